"""The GitHub Actions examples: valid workflows that do what the README
promises, whose `llmplan` command lines the real CLI accepts, and whose shell
steps behave on each exit code when run against the sandbox gateway."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from docs_helpers import (
    REPO,
    WORKFLOWS,
    command_path,
    find_step,
    llmplan_commands,
    load_workflow,
    parse_cli,
    steps,
    workflow_commands,
)

NAMES = ("plan.yml", "apply.yml", "drift.yml")
PINNED_ACTIONS = {
    "actions/checkout@v4",
    "actions/setup-python@v5",
    "actions/upload-artifact@v4",
    "actions/download-artifact@v4",
    "actions/github-script@v7",
}
CREDENTIALS = ("GENESYSCLOUD_OAUTHCLIENT_ID", "GENESYSCLOUD_OAUTHCLIENT_SECRET")


def workflow(name: str) -> dict[str, Any]:
    return load_workflow(WORKFLOWS / name)


def job_running(document: dict[str, Any], subcommand: str) -> tuple[str, dict[str, Any]]:
    """The one job whose run blocks contain `llmplan SUBCOMMAND`."""
    found = [
        (job_id, job)
        for job_id, job in document["jobs"].items()
        if any(args[:1] == [subcommand] for step in job["steps"] if "run" in step for args in llmplan_commands(step["run"]))
    ]
    assert len(found) == 1, f"expected one job running llmplan {subcommand}, found {[job_id for job_id, _ in found]}"
    return found[0]


def environment_settings(name: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / "environments" / name / "environment.yaml").read_text(encoding="utf-8"))


# --- shape ------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_each_workflow_is_a_mapping_of_triggers_and_jobs_of_steps(name: str) -> None:
    document = workflow(name)
    assert {"name", "on", "permissions", "jobs"} <= set(document)
    for job_id, job in document["jobs"].items():
        assert job.get("runs-on") == "ubuntu-latest", job_id
        assert isinstance(job.get("timeout-minutes"), int), f"{job_id}: a job without a timeout can hang for 6 hours"
        for step in job["steps"]:
            assert ("run" in step) != ("uses" in step), f"{job_id}: a step runs a script or uses an action, not both: {step}"


@pytest.mark.parametrize("name", NAMES)
def test_actions_are_pinned_to_their_major_version(name: str) -> None:
    used = {step["uses"] for _, _, step in steps(workflow(name)) if "uses" in step}
    assert used, "no action used at all?"
    assert used <= PINNED_ACTIONS, f"unexpected or unpinned actions: {used - PINNED_ACTIONS}"


def test_plan_runs_on_pull_requests_touching_environments_with_read_only_permissions() -> None:
    document = workflow("plan.yml")
    assert document["on"] == {"pull_request": {"paths": ["environments/**"]}}
    assert document["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert all("permissions" not in job for job in document["jobs"].values())
    _, job = job_running(document, "plan")
    comment = find_step(document, "plan", "Comment")
    script = comment["with"]["script"]
    assert "<!-- llmplan:${env} -->" in script, "one comment per environment, found again by its marker"
    assert "updateComment" in script and "createComment" in script
    assert comment["if"] == "always()", "a failed validate or plan must still be reported on the pull request"
    upload = find_step(document, "plan", "Upload the plan")
    assert upload["with"]["name"] == "llmplan-plan-${{ matrix.environment }}"
    assert "plan-${{ matrix.environment }}.json" in upload["with"]["path"]


def test_apply_runs_after_merge_in_a_protected_environment_one_at_a_time() -> None:
    document = workflow("apply.yml")
    assert document["on"]["push"] == {"branches": ["main"], "paths": ["environments/**"]}
    assert "workflow_dispatch" in document["on"]
    assert document["permissions"] == {"contents": "read"}
    job_id, job = job_running(document, "apply")
    assert job["environment"] == "${{ matrix.environment }}", "the approval gate"
    assert job["concurrency"] == {"group": "llmplan-apply-${{ matrix.environment }}", "cancel-in-progress": False}
    assert job["permissions"] == {"contents": "write"}
    writers = [other for other, spec in document["jobs"].items() if "write" in (spec.get("permissions") or {}).values()]
    assert writers == [job_id], "only the apply job may write"
    (apply_args,) = [args for step in job["steps"] if "run" in step for args in llmplan_commands(step["run"]) if args[:1] == ["apply"]]
    context = parse_cli(apply_args)
    assert context.params["auto_approve"] and context.params["plan_file"] is not None, "the approved plan file, exactly"
    # what happened is recorded even when apply failed
    names = [step.get("name", step.get("uses")) for step in job["steps"]]
    after_apply = job["steps"][names.index("Apply the approved plan") + 1 :]
    assert {step["name"].split(" ")[0] for step in after_apply} == {"Deliver", "Commit", "Upload"}
    for step in after_apply:
        assert step["if"].startswith("always()"), step["name"]
    assert [args[:2] for step in after_apply if "run" in step for args in llmplan_commands(step["run"])] == [["governance", "flush"]]


def test_drift_runs_hourly_and_may_write_issues_only() -> None:
    document = workflow("drift.yml")
    (schedule,) = document["on"]["schedule"]
    minute, hour, day, month, weekday = schedule["cron"].split()
    assert minute.isdigit() and 0 <= int(minute) < 60 and (hour, day, month, weekday) == ("*", "*", "*", "*")
    assert "workflow_dispatch" in document["on"]
    assert document["permissions"] == {"contents": "read", "issues": "write"}
    issue = find_step(document, "drift", "Open, update or close")
    assert "'llmplan-drift'" in issue["with"]["script"]
    assert "if" not in issue, "runs only when drift succeeded (exit 0 or 2); exit 1 fails the job before it"


def test_gateway_jobs_take_credentials_from_secrets_and_apply_gets_the_signing_secret() -> None:
    for name in NAMES:
        document = workflow(name)
        for job_id, job in document["jobs"].items():
            commands = [args for step in job["steps"] if "run" in step for args in llmplan_commands(step["run"])]
            if not any(args[:1] in (["plan"], ["apply"], ["drift"]) for args in commands):
                continue
            for variable in CREDENTIALS:
                assert job["env"][variable] == f"${{{{ secrets.{variable} }}}}", f"{name} {job_id}"
    apply_job = job_running(workflow("apply.yml"), "apply")[1]
    for environment in ("staging", "prod"):
        secret_env = (environment_settings(environment).get("governance") or {}).get("secret_env")
        if secret_env:
            assert apply_job["env"][secret_env] == f"${{{{ secrets.{secret_env} }}}}", f"apply of {environment} would refuse to start without {secret_env}"


def test_the_workflows_target_real_environments_not_the_sandbox() -> None:
    matrices = [workflow(name)["jobs"][job]["strategy"]["matrix"]["environment"] for name, job in (("plan.yml", "plan"), ("drift.yml", "drift"))]
    choices = workflow("apply.yml")["on"]["workflow_dispatch"]["inputs"]["environment"]["options"]
    select = find_step(workflow("apply.yml"), "select", "Environments changed")["run"]
    (managed,) = re.findall(r'^\s*managed="([^"]+)"', select, re.MULTILINE)
    for environments in (*matrices, choices, managed.split()):
        assert environments == ["staging", "prod"]
    for environment in ("staging", "prod"):
        assert "sandbox" not in environment_settings(environment)["gateway"]


# --- the command lines ------------------------------------------------------

EXPECTED_COMMANDS = {
    "plan.yml": ["validate", "plan"],
    "apply.yml": ["state show", "plan", "show", "show", "apply", "governance flush"],
    "drift.yml": ["drift"],
}


@pytest.mark.parametrize("name", NAMES)
def test_every_llmplan_command_line_is_accepted_by_the_cli_parser(name: str) -> None:
    found = [command_path(parse_cli(args)) for args in workflow_commands(workflow(name))]
    assert found == EXPECTED_COMMANDS[name]


def test_the_commands_use_the_documented_output_options() -> None:
    def params(name: str, subcommand: str) -> dict[str, Any]:
        (context,) = [c for c in map(parse_cli, workflow_commands(workflow(name))) if command_path(c) == subcommand]
        return context.params

    plan = params("plan.yml", "plan")
    assert (plan["output_format"], str(plan["out_file"]), plan["detailed_exitcode"]) == ("markdown", "plan-prod.json", True)
    drift = params("drift.yml", "drift")
    assert (drift["output_format"], str(drift["out_file"])) == ("markdown", "drift-prod.md")


@pytest.mark.parametrize(
    ("name", "right", "wrong"),
    [
        ("plan.yml", "--detailed-exitcode", "--detailed-exit-code"),  # unknown option
        ("plan.yml", "--format markdown", "--format html"),  # not a choice
        ("apply.yml", "--auto-approve", "--auto-aprove"),
        ("apply.yml", "governance flush", "governance flsh"),  # unknown subcommand
        ("drift.yml", 'drift --env "$ENV"', "drift"),  # --env is required
        ("drift.yml", '--out "drift-$ENV.md"', '--out "drift-$ENV.md" extra'),  # unexpected argument
    ],
)
def test_a_wrong_command_line_in_a_workflow_fails_the_check(tmp_path: Path, name: str, right: str, wrong: str) -> None:
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    assert right in text
    broken = tmp_path / name
    broken.write_text(text.replace(right, wrong), encoding="utf-8")
    with pytest.raises(click.UsageError):
        for args in workflow_commands(load_workflow(broken)):
            parse_cli(args)


def test_the_extractor_reads_shell_as_bash_does() -> None:
    script = (
        'echo "::error::llmplan plan failed > see log"  # llmplan apply in a comment\n'
        'serial=$(llmplan state show --env "$ENV" --format json | jq .state.serial)\n'
        "if ! llmplan governance flush \\\n  --env ${ENV}; then exit 1; fi\n"
        'LLMPLAN_ROOT=. llmplan plan --env "${{ matrix.environment }}" --parallelism 2 > plan.md 2>&1\n'
    )
    assert llmplan_commands(script) == [
        ["state", "show", "--env", "prod", "--format", "json"],
        ["governance", "flush", "--env", "prod"],
        ["plan", "--env", "prod", "--parallelism", "2"],
    ]


# --- the github-script steps, against a fake GitHub ---------------------------

HARNESS = Path(__file__).parent / "github_script_harness.js"
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node runs the github-script bodies")


def github_script(tmp_path: Path, name: str, job_id: str, step_name: str, scenario: dict[str, Any], files: dict[str, str], **env: str) -> list[dict[str, Any]]:
    """The GitHub API calls the step's script makes, given existing comments/issues and files."""
    step = find_step(workflow(name), job_id, step_name)
    assert step["uses"] == "actions/github-script@v7"
    (tmp_path / "script.js").write_text(step["with"]["script"], encoding="utf-8")
    (tmp_path / "scenario.json").write_text(json.dumps(scenario), encoding="utf-8")
    for file_name, text in files.items():
        (tmp_path / file_name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        ["node", str(HARNESS), "script.js", "scenario.json"],
        cwd=tmp_path, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RUN_URL": "https://run/1", **env},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [call for call in json.loads(result.stdout) if call["call"] not in ("info", "notice")]


PLAN_MD = "### llmplan · `prod` · Plan: 0 to create, 1 to update, 0 to forget.\n"
MARKED = "<!-- llmplan:prod -->"


@needs_node
def test_the_plan_comment_is_created_once_then_updated_in_place(tmp_path: Path) -> None:
    files = {"plan-prod.md": PLAN_MD}
    (created,) = github_script(tmp_path, "plan.yml", "plan", "Comment", {"comments": []}, files, ENV="prod", PLAN_OUTCOME="success")
    assert created["call"] == "createComment" and created["issue_number"] == 5
    assert created["body"].startswith(MARKED + "\n" + PLAN_MD)
    assert "planned at 0123456" in created["body"], "the pull request's head, not the test merge commit"

    comments = [
        {"id": 11, "user": {"type": "User"}, "body": f"quoting {MARKED}"},  # a person's comment is never edited
        {"id": 12, "user": {"type": "Bot"}, "body": f"{MARKED}\nan older plan"},
        {"id": 13, "user": {"type": "Bot"}, "body": "<!-- llmplan:staging -->\nanother environment"},
    ]
    (updated,) = github_script(tmp_path, "plan.yml", "plan", "Comment", {"comments": comments}, files, ENV="prod", PLAN_OUTCOME="success")
    assert (updated["call"], updated["comment_id"]) == ("updateComment", 12)


@needs_node
def test_a_quiet_plan_adds_no_comment_but_updates_an_earlier_one(tmp_path: Path) -> None:
    files = {"plan-prod.md": "### llmplan · `prod` · No changes.\n"}
    assert github_script(tmp_path, "plan.yml", "plan", "Comment", {"comments": []}, files, ENV="prod", PLAN_OUTCOME="success", QUIET="true") == []
    earlier = {"comments": [{"id": 12, "user": {"type": "Bot"}, "body": f"{MARKED}\nPlan: 1 to update"}]}
    (updated,) = github_script(tmp_path, "plan.yml", "plan", "Comment", earlier, files, ENV="prod", PLAN_OUTCOME="success", QUIET="true")
    assert updated["call"] == "updateComment" and "No changes." in updated["body"]


@needs_node
@pytest.mark.parametrize(("validate", "failed_step"), [("success", "plan"), ("failure", "validate")])
def test_a_failed_plan_is_reported_in_the_comment_with_its_errors(tmp_path: Path, validate: str, failed_step: str) -> None:
    log = "Error: environment prod is not valid: 1 problem\n  environments/prod/models/support-bot.yaml:9 max_tokens: 9000 is greater than the maximum of 8192\n"
    outcomes = {"VALIDATE_OUTCOME": validate, "PLAN_OUTCOME": "skipped" if validate == "failure" else "failure"}
    (created,) = github_script(tmp_path, "plan.yml", "plan", "Comment", {"comments": []}, {"llmplan-prod.log": log}, ENV="prod", **outcomes)
    assert created["call"] == "createComment"
    assert f"❌ {failed_step} failed" in created["body"]
    assert "```\n" + log.strip() + "\n```" in created["body"]


DRIFT_MD = "### llmplan drift · `prod` · 1 of 4 models drifted\n"


@needs_node
def test_drift_opens_one_labelled_issue_then_updates_it_and_closes_it_when_clean(tmp_path: Path) -> None:
    files = {"drift-prod.md": DRIFT_MD}
    label, opened = github_script(tmp_path, "drift.yml", "drift", "Open", {"issues": []}, files, ENV="prod", DRIFT="true")
    assert (label["call"], label["name"]) == ("createLabel", "llmplan-drift")
    assert (opened["call"], opened["title"], opened["labels"]) == ("create", "llmplan: drift in prod", ["llmplan-drift"])
    assert opened["body"].startswith("<!-- llmplan-drift:prod -->\n" + DRIFT_MD)

    issue = {"number": 3, "state": "open", "labels": ["llmplan-drift"], "body": opened["body"]}
    other = {"number": 4, "state": "open", "labels": ["llmplan-drift"], "body": "<!-- llmplan-drift:staging -->\n…"}
    scenario = {"labels": ["llmplan-drift"], "issues": [other, issue]}
    assert github_script(tmp_path, "drift.yml", "drift", "Open", scenario, files, ENV="prod", DRIFT="true") == [], "same report: no noise"

    changed = {"drift-prod.md": "### llmplan drift · `prod` · 2 of 4 models drifted\n"}
    update, comment = github_script(tmp_path, "drift.yml", "drift", "Open", scenario, changed, ENV="prod", DRIFT="true")
    assert (update["call"], update["issue_number"]) == ("update", 3) and "2 of 4 models drifted" in update["body"]
    assert (comment["call"], comment["issue_number"]) == ("createComment", 3)

    comment, closed = github_script(tmp_path, "drift.yml", "drift", "Open", scenario, {}, ENV="prod", DRIFT="false")
    assert (comment["call"], comment["issue_number"]) == ("createComment", 3)
    assert (closed["call"], closed["issue_number"], closed["state"]) == ("update", 3, "closed")
    assert github_script(tmp_path, "drift.yml", "drift", "Open", {"issues": [other]}, {}, ENV="prod", DRIFT="false") == []


# --- the scripts, run against the sandbox -----------------------------------


class Runner:
    """Runs one workflow step's script as GitHub Actions would (bash, the
    step's shell options), in a copy of the project whose dev environment
    uses the in-process sandbox gateway."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.summary = root.parent / "summary.md"
        self.summary.touch()
        self.environ = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "HOME": str(root.parent),
            "ENV": "dev",
            "NO_COLOR": "1",
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_REF_NAME": "main",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_REPOSITORY": "team/llm-config",
            "GITHUB_RUN_ID": "42",
        }

    def step(self, workflow_name: str, job_id: str, name: str, **env: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
        step = find_step(workflow(workflow_name), job_id, name)
        script = self.root.parent / "step.sh"
        script.write_text(step["run"], encoding="utf-8")
        outputs = self.root.parent / "outputs"
        outputs.write_text("", encoding="utf-8")
        options = ["--noprofile", "--norc", "-eo", "pipefail"] if step.get("shell") == "bash" else ["-e"]
        result = subprocess.run(
            ["bash", *options, str(script)],
            cwd=self.root,
            env={**self.environ, **env, "GITHUB_OUTPUT": str(outputs)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        values = dict(line.split("=", 1) for line in outputs.read_text(encoding="utf-8").splitlines() if "=" in line)
        return result, values

    def git(self, *args: str, cwd: Path | None = None) -> str:
        return subprocess.run(["git", *args], cwd=cwd or self.root, env=self.environ, check=True, capture_output=True, text=True).stdout


@pytest.mark.slow
def test_the_workflow_steps_handle_each_exit_code_against_the_sandbox(tmp_path: Path) -> None:
    root = tmp_path / "llm-config"
    shutil.copytree(REPO / "environments", root / "environments")
    shutil.copy(REPO / ".gitignore", root / ".gitignore")  # ignores state/*/: the commit step must add with --force
    run = Runner(root)
    remote = tmp_path / "remote.git"
    run.git("init", "--quiet", "--bare", "--initial-branch=main", str(remote), cwd=tmp_path)
    run.git("init", "--quiet", "--initial-branch=main")
    run.git("add", ".")
    run.git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "environments")
    run.git("remote", "add", "origin", str(remote))
    run.git("push", "--quiet", "origin", "main")

    # pull request: validate, then plan with changes (exit 2 is success for the job)
    result, _ = run.step("plan.yml", "plan", "Validate")
    assert result.returncode == 0, result.stderr
    assert "5 models valid in environment dev" in result.stdout
    result, outputs = run.step("plan.yml", "plan", "Plan")
    assert result.returncode == 0, result.stderr
    assert "quiet" not in outputs
    assert (root / "plan-dev.json").is_file()
    assert "### llmplan · `dev` · Plan: 5 to create, 0 to update, 0 to forget." in run.summary.read_text(encoding="utf-8")

    # merge: the reviewed plan is shown to the approver, applied, flushed, committed
    result, _ = run.step("apply.yml", "plan", "Show the plan", SOURCE="the plan reviewed in pull request #7")
    assert result.returncode == 0, result.stderr
    assert "_Applying the plan reviewed in pull request #7._" in run.summary.read_text(encoding="utf-8")
    result, _ = run.step("apply.yml", "apply", "Apply the approved plan")
    assert result.returncode == 0, result.stderr
    assert "Apply complete: 5 succeeded, 0 failed, 0 not attempted." in result.stdout
    result, _ = run.step("apply.yml", "apply", "Deliver queued governance events")
    assert result.returncode == 0 and "::warning" not in result.stdout, result.stdout + result.stderr
    result, _ = run.step("apply.yml", "apply", "Commit state/")
    assert result.returncode == 0, result.stderr
    committed = run.git("show", "--name-only", "--format=%s", "main", cwd=remote).split()
    assert committed[:5] == ["llmplan:", "state", "of", "dev", "after"]
    assert sorted(committed[6:]) == ["state/dev/audit.jsonl", "state/dev/audit.jsonl.head", "state/dev/state.json"]
    assert (root / "state" / "dev" / "sandbox.json").is_file() and (root / "state" / "dev" / "metrics.prom").is_file()
    result, _ = run.step("apply.yml", "apply", "Commit state/")
    assert result.returncode == 0 and "state/dev unchanged" in result.stdout

    # the next plan has nothing to say (the check needs jq, as on GitHub's runners)
    result, outputs = run.step("plan.yml", "plan", "Plan")
    assert result.returncode == 0, result.stderr
    if shutil.which("jq"):
        assert outputs.get("quiet") == "true"

    # cron: no drift (0), then a console edit (2), then broken YAML (1)
    result, outputs = run.step("drift.yml", "drift", "Detect drift")
    assert (result.returncode, outputs) == (0, {"drift": "false"}), result.stderr
    edit = subprocess.run(
        ["llmplan", "sandbox", "edit", "--env", "dev", "a1b2c3d4-e5f6-7890-abcd-ef1234567890", "max_tokens=1024"],
        cwd=root, env=run.environ, capture_output=True, text=True, timeout=60,
    )
    assert edit.returncode == 0, edit.stderr
    result, outputs = run.step("drift.yml", "drift", "Detect drift")
    assert (result.returncode, outputs) == (0, {"drift": "true"}), result.stderr
    report = (root / "drift-dev.md").read_text(encoding="utf-8")
    assert "| `support-bot` | live changed outside llmplan |" in report
    assert report in run.summary.read_text(encoding="utf-8")

    model = root / "environments" / "dev" / "models" / "support-bot.yaml"
    model.write_text(model.read_text(encoding="utf-8").replace("max_tokens: 2048", "max_tokens: lots"), encoding="utf-8")
    result, outputs = run.step("drift.yml", "drift", "Detect drift")
    assert result.returncode == 1 and outputs == {}
    assert "::error title=llmplan drift (dev)::drift could not be checked (exit code 1)" in result.stdout
    result, _ = run.step("plan.yml", "plan", "Plan")
    assert result.returncode == 1
    assert "::error title=llmplan plan (dev)::" in result.stdout
    assert 'support-bot.yaml:8 max_tokens: "lots" is not an integer' in (root / "llmplan-dev.log").read_text(encoding="utf-8")

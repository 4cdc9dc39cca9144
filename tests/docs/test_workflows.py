"""The GitHub Actions examples: valid workflows that do what the README
promises, whose `llmplan` command lines the real CLI accepts, and whose shell
steps behave on each exit code when run against the sandbox gateway. Their
hardening (pins, permissions, secrets, the pull request as data) is checked
in test_workflow_hardening.py, their github-script steps in
test_workflow_github_script.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from tests.docs.docs_helpers import (
    NAMES,
    REPO,
    WORKFLOWS,
    Runner,
    command_path,
    find_step,
    llmplan_commands,
    load_workflow,
    parse_cli,
    steps,
    workflow,
    workflow_commands,
)


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


def test_plan_runs_on_pull_requests_touching_environments_and_comments_once() -> None:
    document = workflow("plan.yml")
    assert document["on"] == {"pull_request": {"paths": ["environments/**"]}}
    job_id, job = job_running(document, "plan")
    assert "strategy" not in job, "one job plans every environment the pull request touches"
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert job["env"]["BASE_SHA"] == "${{ github.event.pull_request.base.sha }}" == job["steps"][0]["with"]["ref"], "compared with the base branch checked out"
    comment = find_step(document, job_id, "Comment")
    script = comment["with"]["script"]
    assert "const marker = '<!-- llmplan -->';" in script, "ONE comment for every environment, found again by its marker"
    assert "updateComment" in script and "createComment" in script
    assert comment["if"] == "always()", "a failed validate or plan must still be reported on the pull request"
    upload = find_step(document, job_id, "Upload the plans")
    assert upload["with"]["name"] == "llmplan-plans"
    assert upload["with"]["path"].split() == ["plans/", "plan.md"]
    policy = document["jobs"]["policy"]
    assert policy["needs"] == "plan" and "strategy" not in policy
    assert [step["with"]["name"] for step in policy["steps"] if step.get("uses", "").startswith("actions/download-artifact@")] == ["llmplan-plans"]


def test_apply_runs_after_merge_in_a_protected_environment_one_at_a_time() -> None:
    document = workflow("apply.yml")
    assert document["on"]["push"] == {"branches": ["main"], "paths": ["environments/**"]}
    assert "workflow_dispatch" in document["on"]
    job_id, job = job_running(document, "apply")
    assert job["environment"] == "${{ matrix.environment }}", "the approval gate"
    assert job["concurrency"] == {"group": "llmplan-apply-${{ matrix.environment }}", "cancel-in-progress": False}
    assert job["permissions"] == {"contents": "write"}
    writers = [other for other, spec in document["jobs"].items() if "write" in (spec.get("permissions") or {}).values()]
    assert writers == [job_id], "only the apply job may write"
    # a run as a whole never waits for or cancels another: a cancelled pending run would lose its environments
    assert document["concurrency"] == {"group": "llmplan-apply-run-${{ github.run_id }}", "cancel-in-progress": False}
    applies = [parse_cli(args) for step in job["steps"] if "run" in step for args in llmplan_commands(step["run"]) if args[:1] == ["apply"]]
    for context in applies:
        assert context.params["auto_approve"] and context.params["plan_file"] is not None, "the approved plan file, exactly"
    # one line allows weakenings, for a run started by hand with allow_weakening; the other never does
    assert sorted(context.params["allow_weakening"] for context in applies) == [False, True]
    # what happened is recorded even when apply failed
    names = [step.get("name", step.get("uses")) for step in job["steps"]]
    after_apply = job["steps"][names.index("Apply the approved plan") + 1 :]
    assert {step["name"].split(" ")[0] for step in after_apply} == {"Deliver", "Commit", "Upload"}
    for step in after_apply:
        assert step["if"].startswith("always()"), step["name"]
    assert [args[:2] for step in after_apply if "run" in step for args in llmplan_commands(step["run"])] == [["governance", "flush"]]


def test_apply_applies_only_its_own_plan_and_compares_the_reviewed_one() -> None:
    document = workflow("apply.yml")
    job = document["jobs"]["plan"]
    names = [step.get("name", step.get("uses")) for step in job["steps"]]
    planned, fetched, compared = (names.index(name) for name in ("Plan main", "Fetch the plan reviewed in the pull request", "Compare with the plan reviewed in the pull request"))
    assert planned < fetched < compared, "the reviewed plan is compared with a plan of main"
    (plan_args,) = [args for args in llmplan_commands(job["steps"][planned]["run"]) if args[:1] == ["plan"]]
    assert str(parse_cli(plan_args).params["out_file"]) == "plan-prod.json"
    assert "--name llmplan-plans --dir reviewed" in job["steps"][fetched]["run"], "the pull request's artifact is kept in a folder of its own"
    assert '"reviewed/plans/$ENV.plan.json"' in job["steps"][compared]["run"], "compared with the reviewed plan of this environment"
    scripts = [step["run"] for step in job["steps"] if "run" in step]
    assert not any(re.search(r"\b(cp|mv|ln)\b", script) for script in scripts), "nothing replaces main's plan-<env>.json"


def test_drift_runs_hourly_and_may_write_issues_only() -> None:
    document = workflow("drift.yml")
    (schedule,) = document["on"]["schedule"]
    minute, hour, day, month, weekday = schedule["cron"].split()
    assert minute.isdigit() and 0 <= int(minute) < 60 and (hour, day, month, weekday) == ("*", "*", "*", "*")
    assert "workflow_dispatch" in document["on"]
    assert document["jobs"]["drift"]["permissions"] == {"contents": "read", "issues": "write"}
    issue = find_step(document, "drift", "Open, update or close")
    assert "'llmplan-drift'" in issue["with"]["script"]
    assert "if" not in issue, "runs after both checks, an environment that failed included: the last step fails the job"
    assert "kind.unknown" in issue["with"]["script"], "an unchecked environment closes no issue"


def test_the_workflows_target_real_environments_not_the_sandbox() -> None:
    choices = [workflow(name)["on"]["workflow_dispatch"]["inputs"]["environment"]["options"] for name in ("apply.yml", "postgres/apply.yml", "postgres/migrate.yml")]
    selected = []
    for name in ("apply.yml", "postgres/apply.yml"):
        select = find_step(workflow(name), "select", "Environments changed")["run"]
        (managed,) = re.findall(r'^\s*managed="([^"]+)"', select, re.MULTILINE)
        selected.append(managed.split())
    for environments in (*choices, *selected):
        assert environments == ["staging", "prod"]
    for environment in ("staging", "prod"):
        assert "sandbox" not in environment_settings(environment)["gateway"]
    # plan and drift name no environment: what the pull request touches, and every one
    for name, selection in (("plan.yml", "changed_from"), ("drift.yml", "every"), ("postgres/drift.yml", "every")):
        contexts = [parse_cli(args) for args in workflow_commands(workflow(name)) if args[:1] in (["validate"], ["plan"], ["drift"])]
        assert contexts and all(context.params[selection] and not context.params["envs"] for context in contexts), name
        assert all("matrix" not in json.dumps(job) for job in workflow(name)["jobs"].values()), name


# --- the command lines ------------------------------------------------------

EXPECTED_COMMANDS = {
    "plan.yml": ["validate", "plan"],
    "apply.yml": ["plan", "show", "show", "apply", "apply", "governance flush"],
    "drift.yml": ["drift", "drift", "report"],
    "postgres/apply.yml": ["state show", "plan", "show", "show", "apply", "apply", "governance flush"],
    "postgres/drift.yml": ["drift", "drift", "report"],
    "postgres/migrate.yml": ["state migrate", "state migrate", "state show", "audit verify", "state migrate", "audit verify", "state show"],
}


@pytest.mark.parametrize("name", NAMES)
def test_every_llmplan_command_line_is_accepted_by_the_cli_parser(name: str) -> None:
    found = [command_path(parse_cli(args)) for args in workflow_commands(workflow(name))]
    assert found == EXPECTED_COMMANDS[name]


def test_the_commands_use_the_documented_output_options() -> None:
    def params(name: str, subcommand: str) -> list[dict[str, Any]]:
        return [c.params for c in map(parse_cli, workflow_commands(workflow(name))) if command_path(c) == subcommand]

    (validate,) = params("plan.yml", "validate")
    (plan,) = params("plan.yml", "plan")
    assert validate["changed_from"] == plan["changed_from"] == "value"  # "$BASE_SHA", as the extractor substitutes it
    assert (plan["output_format"], str(plan["out_file"]), plan["detailed_exitcode"]) == ("markdown", "plans", True)  # one plan per environment
    for name in ("drift.yml", "postgres/drift.yml"):
        drift, weakening = params(name, "drift")
        assert (drift["every"], drift["output_format"], str(drift["out_file"]), drift["fail_on_weakening"]) == (True, "markdown", "drift.md", False)
        # a second report whose exit 2 means only "safety weakened outside llmplan": it pages
        assert (weakening["every"], weakening["output_format"], str(weakening["out_file"]), weakening["fail_on_weakening"]) == (True, "markdown", "weakened.md", True)


def test_weakenings_are_allowed_only_in_a_run_started_by_hand_with_allow_weakening() -> None:
    for name in ("apply.yml", "postgres/apply.yml"):
        document = workflow(name)
        allow = document["on"]["workflow_dispatch"]["inputs"]["allow_weakening"]
        assert (allow["type"], allow["default"]) == ("boolean", False)
        assert "push" in document["on"], "a push runs too, and never allows weakenings:"
        expression = "${{ github.event_name == 'workflow_dispatch' && inputs.allow_weakening }}"
        for job_id, step_name in (("plan", "Show the plan"), ("apply", "Apply the approved plan")):
            assert find_step(document, job_id, step_name)["env"]["ALLOW_WEAKENING"] == expression, (name, step_name)
        scripts = [step["run"] for _, _, step in steps(document) if "run" in step]
        assert sum(script.count("--allow-weakening") for script in scripts) == 1, "one command line passes it"


@pytest.mark.parametrize(
    ("name", "right", "wrong"),
    [
        ("plan.yml", "--detailed-exitcode", "--detailed-exit-code"),  # unknown option
        ("plan.yml", "--format markdown", "--format html"),  # not a choice
        ("apply.yml", "--auto-approve", "--auto-aprove"),
        ("apply.yml", "governance flush", "governance flsh"),  # unknown subcommand
        ("drift.yml", "drift --all", "drift --every"),  # unknown option
        ("drift.yml", "--out drift.md", "--out drift.md extra"),  # unexpected argument
        ("plan.yml", '--changed-from "$BASE_SHA"', "--changed-from"),  # an option without its value
        ("drift.yml", "--fail-on-weakening", "--fail-on-weakenings"),
        ("postgres/apply.yml", "--lock-timeout 600 --allow-weakening", "--lock-timeout --allow-weakening"),  # not a number
        ("postgres/migrate.yml", 'state migrate --env "$ENV" --lock-timeout 600', 'state migrate --env "$ENV" --from git'),  # not a choice
    ],
)
def test_a_wrong_command_line_in_a_workflow_fails_the_check(tmp_path: Path, name: str, right: str, wrong: str) -> None:
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    assert right in text
    broken = tmp_path / name
    broken.parent.mkdir(exist_ok=True)
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


# --- the scripts, run against the sandbox -----------------------------------


@pytest.mark.slow(reason="every step of three workflows against the sandbox and a Git remote, each a bash script running llmplan as a child process")
def test_the_workflow_steps_handle_each_exit_code_against_the_sandbox(tmp_path: Path) -> None:
    # a configuration repository whose one environment is on the built-in sandbox (staging and
    # prod need their real gateways, and drift --all checks every environment there is)
    root = tmp_path / "llm-config"
    shutil.copytree(REPO / "environments" / "dev", root / "environments" / "dev")
    shutil.copy(REPO / ".gitignore", root / ".gitignore")  # ignores state/*/: the commit step must add with --force
    run = Runner(root)
    remote = tmp_path / "remote.git"
    run.git("init", "--quiet", "--bare", "--initial-branch=main", str(remote), cwd=tmp_path)
    run.git("init", "--quiet", "--initial-branch=main")
    run.git("add", ".")
    run.git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "environments")
    run.git("remote", "add", "origin", str(remote))
    run.git("push", "--quiet", "origin", "main")
    base = run.git("rev-parse", "HEAD").strip()
    model = root / "environments" / "dev" / "models" / "support-bot.yaml"

    # pull request: its environments/ laid over the base branch, validated, then planned with changes (exit 2 is success for the job)
    model.write_text(model.read_text(encoding="utf-8").replace("max_tokens: 2048", "max_tokens: 1024"), encoding="utf-8")
    result, _ = run.step("plan.yml", "plan", "Validate", BASE_SHA=base)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "5 models valid in environment dev\n"
    result, outputs = run.step("plan.yml", "plan", "Plan", BASE_SHA=base)
    assert result.returncode == 0, result.stderr
    assert outputs == {"exitcode": "2"}
    assert sorted(path.name for path in (root / "plans").iterdir()) == ["dev.plan.json"]
    report = (root / "plan.md").read_text(encoding="utf-8")
    assert report.startswith("### llmplan plan · 1 environment · 1 with changes, 0 without\n")
    assert "### llmplan · `dev` · Plan: 5 to create, 0 to update, 0 to forget." in report and report in run.summary.read_text(encoding="utf-8")

    # merge: main is planned again and compared with the plan the pull request showed
    run.git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "--all", "-m", "merge the pull request")
    run.git("push", "--quiet", "origin", "main")
    reviewed = json.loads((root / "plans" / "dev.plan.json").read_text(encoding="utf-8"))
    assert reviewed["llmplan"]["source"] == {"commit": base}  # planned on the base branch, with the pull request's files
    shutil.rmtree(root / "plans")
    result, _ = run.step("apply.yml", "plan", "Plan main")
    assert result.returncode == 0, result.stderr
    main_plan = (root / "plan-dev.json").read_bytes()
    # an artifact that does not match what main plans is never passed off as the reviewed plan
    tampered = json.loads(json.dumps(reviewed))
    tampered["resource_changes"][0]["change"]["after"]["max_tokens"] += 1
    for text in (json.dumps(tampered), "not a plan"):
        (root / "reviewed" / "plans").mkdir(parents=True)  # where `gh run download --dir reviewed` puts the artifact
        (root / "reviewed" / "plans" / "dev.plan.json").write_text(text, encoding="utf-8")
        result, outputs = run.step("apply.yml", "plan", "Compare with the plan reviewed", NUMBER="7")
        assert result.returncode == 0 and "source" not in outputs, result.stderr
        assert "::warning title=llmplan plan (dev)::the plan of main differs from the one reviewed in #7" in result.stdout
        assert not (root / "reviewed").exists() and (root / "plan-dev.json").read_bytes() == main_plan
    (root / "reviewed" / "plans").mkdir(parents=True)
    (root / "reviewed" / "plans" / "dev.plan.json").write_text(json.dumps(reviewed), encoding="utf-8")
    result, outputs = run.step("apply.yml", "plan", "Compare with the plan reviewed", NUMBER="7")
    assert result.returncode == 0 and "::warning" not in result.stdout, result.stdout + result.stderr
    assert outputs == {"source": "the plan reviewed in pull request #7 (planned again on main: the same changes)"}

    # the plan is shown to the approver, applied, flushed, committed
    result, _ = run.step("apply.yml", "plan", "Show the plan", SOURCE=outputs["source"])
    assert result.returncode == 0, result.stderr
    assert "_Applying the plan reviewed in pull request #7 (planned again on main: the same changes)._" in run.summary.read_text(encoding="utf-8")
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

    # the next plan of that pull request has nothing to say (the check needs jq, as on GitHub's runners)
    result, outputs = run.step("plan.yml", "plan", "Plan", BASE_SHA=base)
    assert result.returncode == 0, result.stderr
    if shutil.which("jq"):
        assert outputs.get("quiet") == "true"
    # a pull request that touches no environment plans none, and says so
    result, outputs = run.step("plan.yml", "plan", "Plan", BASE_SHA=run.git("rev-parse", "HEAD").strip())
    assert (result.returncode, outputs["exitcode"]) == (0, "0"), result.stderr
    assert "No environment has a file that differs from" in (root / "plan.md").read_text(encoding="utf-8")

    # cron: no drift (0), then a console edit (2), then broken YAML (1)
    result, outputs = run.step("drift.yml", "drift", "Detect drift")
    assert (result.returncode, outputs) == (0, {"drift": "false"}), result.stderr
    edit = subprocess.run(
        ["llmplan", "sandbox", "edit", "--env", "dev", "a1b2c3d4-e5f6-7890-abcd-ef1234567890", "max_tokens=2048"],
        cwd=root, env=run.environ, capture_output=True, text=True, timeout=60,
    )
    assert edit.returncode == 0, edit.stderr
    result, outputs = run.step("drift.yml", "drift", "Detect drift")
    assert (result.returncode, outputs) == (0, {"drift": "true"}), result.stderr
    report = (root / "drift.md").read_text(encoding="utf-8")
    assert report.startswith("### llmplan drift · 1 environment · 1 drifted\n")
    assert "| `support-bot` | live changed outside llmplan |" in report
    assert report in run.summary.read_text(encoding="utf-8")

    model.write_text(model.read_text(encoding="utf-8").replace("max_tokens: 1024", "max_tokens: lots"), encoding="utf-8")
    result, outputs = run.step("drift.yml", "drift", "Detect drift")
    assert (result.returncode, outputs) == (0, {"drift": "unknown", "failed": "true"}), result.stderr  # no issue closed; the last step fails
    assert "::error title=llmplan drift::drift could not be checked in every environment (exit code 1)" in result.stdout
    result, _ = run.step("plan.yml", "plan", "Plan", BASE_SHA=base)
    assert result.returncode == 1
    assert "::error title=llmplan plan::" in result.stdout
    assert 'support-bot.yaml:8 max_tokens: "lots" is not an integer' in (root / "llmplan.log").read_text(encoding="utf-8")
    report = (root / "plan.md").read_text(encoding="utf-8")  # what the pull-request comment shows
    assert "| `dev` | — | — | — | — | ❌ failed: environment dev is not valid: 1 problem |" in report
    assert "| `environments/dev/models/support-bot.yaml` | 8 | `max_tokens` |" in report

"""The GitHub Actions examples are hardened: actions pinned by commit, no
token left in a checkout, the least permissions, secrets only in the steps
that use them, llmplan installed by its own action (from hashes, at a
pinned commit, never from the configuration repository), and a pull request
that is read as data and never run. zizmor and GitHub's workflow schema
(from the test extra: a missing tool fails these tests) agree."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.docs.docs_helpers import NAMES, REPO, WORKFLOWS, Runner, code_blocks, llmplan_commands, steps, workflow

# Each commit was read from the tag of that release in the action's own
# repository; the README's table shows the same. llmplan's own action
# (action.yml at the top of this repository) is named as a team names its
# copy, your-org/llmplan, at a commit of this repository's history that holds
# action.yml (checked below).
LLMPLAN_ACTION = "your-org/llmplan"
PINS = {
    LLMPLAN_ACTION: ("d8747697d3041ee9f597dfd5e434cb54d2124885", "v0.1.0"),
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/github-script": ("ed597411d8f924073f98dfc5c65a23a2325f34cd", "v8.0.0"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
}
# Service containers, pinned by digest like the actions: read from the image's
# index on Docker Hub (`docker buildx imagetools inspect postgres:17.11`).
IMAGES = {"postgres": ("17.11", "d74eeac9a635390a49bc21bd49fccd973de707e2a53a76ac49b552b8712ec46f")}
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<action>[^@\s]+)@(?P<ref>\S+)(?:\s+#\s*(?P<comment>\S+))?", re.MULTILINE)
PERMISSIONS = {
    ("plan.yml", "plan"): {"contents": "read", "pull-requests": "write"},
    ("apply.yml", "select"): {"contents": "read"},
    ("apply.yml", "plan"): {"contents": "read", "actions": "read", "pull-requests": "read"},
    ("apply.yml", "apply"): {"contents": "write"},
    ("drift.yml", "drift"): {"contents": "read", "issues": "write"},
    ("plan.yml", "policy"): {"contents": "read"},
    ("postgres/apply.yml", "select"): {"contents": "read"},
    ("postgres/apply.yml", "plan"): {"contents": "read", "actions": "read", "pull-requests": "read"},
    ("postgres/apply.yml", "apply"): {"contents": "read"},  # nothing is committed back
    ("postgres/drift.yml", "drift"): {"contents": "read", "issues": "write"},
    ("postgres/migrate.yml", "rehearse"): {"contents": "read"},
    ("postgres/migrate.yml", "migrate"): {"contents": "read"},
}
CREDENTIALS = {"GENESYSCLOUD_OAUTHCLIENT_ID", "GENESYSCLOUD_OAUTHCLIENT_SECRET"}
# The connection string of the records' database, in the workflows that may
# meet an environment whose state.backend is postgres (plan.yml serves both
# variants), for each step whose llmplan commands read or write the records.
DSN = "LLMPLAN_PG_DSN"
WITH_DATABASE = {"plan.yml", "postgres/apply.yml", "postgres/drift.yml", "postgres/migrate.yml"}
RECORDS = {"plan", "apply", "drift", "state", "audit", "governance", "refresh", "import", "force-unlock", "report"}
# jobs whose secrets are the protected environment's (the client that may write), not llmplan-read's
PROTECTED = {
    ("apply.yml", "apply"): "${{ matrix.environment }}",
    ("postgres/apply.yml", "apply"): "${{ matrix.environment }}",
    ("postgres/migrate.yml", "migrate"): "${{ inputs.environment }}",
}
SECRET = re.compile(r"\$\{\{\s*secrets\.(\w+)\s*\}\}")
# A job that runs no llmplan command installs nothing, or only the policy gate's tool, from hashes
# (the team's copy of examples/ci/github-actions/policy-requirements.txt, beside its policies).
TOOL_INSTALL = "pip install --require-hashes --only-binary :all: -r policies/policy-requirements.txt\n"


def commands(step: dict[str, Any]) -> list[str]:
    """'plan', 'governance' … for every llmplan command of a step."""
    return [args[0] for args in llmplan_commands(step.get("run", "")) if args]


def governance_secrets() -> set[str]:
    """The webhook signing secrets that staging's and prod's environment.yaml name."""
    names = set()
    for environment in ("staging", "prod"):
        settings = yaml.safe_load((REPO / "environments" / environment / "environment.yaml").read_text(encoding="utf-8"))
        if (settings.get("governance") or {}).get("secret_env"):
            names.add(settings["governance"]["secret_env"])
    return names


# --- pins, tokens, permissions, secrets ----------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_action_is_pinned_to_a_verified_commit_with_its_release_in_a_comment(name: str) -> None:
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    found = [match.groupdict() for match in USES.finditer(text)]
    assert len(found) == sum("uses" in step for _, _, step in steps(workflow(name))), "every uses: line is read"
    for use in found:
        assert use["action"] in PINS, f"{use['action']} is not one of the reviewed actions"
        assert (use["ref"], use["comment"]) == PINS[use["action"]], f"{use['action']}@{use['ref']} # {use['comment']}"


@pytest.mark.parametrize("name", NAMES)
def test_every_checkout_leaves_no_token_behind(name: str) -> None:
    checkouts = [step for _, _, step in steps(workflow(name)) if step.get("uses", "").startswith("actions/checkout@")]
    assert checkouts
    for step in checkouts:
        assert step["with"]["persist-credentials"] is False, step


def test_workflows_grant_nothing_and_each_job_only_what_it_uses() -> None:
    granted = {}
    for name in NAMES:
        document = workflow(name)
        assert document["permissions"] == {}, f"{name}: a job that asks for nothing gets a token that can do nothing"
        for job_id, job in document["jobs"].items():
            granted[(name, job_id)] = job["permissions"]
    assert granted == PERMISSIONS


@pytest.mark.parametrize("name", NAMES)
def test_secrets_reach_only_the_llmplan_steps_that_use_them(name: str) -> None:
    document = workflow(name)
    assert not SECRET.search(json.dumps(document.get("env", {}))), "no secret for the whole workflow"
    for job_id, job in document["jobs"].items():
        assert not SECRET.search(json.dumps(job.get("env", {}))), f"{job_id}: no secret for the whole job"
        used_in_job = set()
        for step in job["steps"]:
            used = set(SECRET.findall(json.dumps({key: step.get(key) for key in ("env", "with")})))
            ran = commands(step)
            if "report" in ran and "--offline" not in step.get("run", ""):
                ran.append("drift")  # a report without --offline reads the gateways as drift does
            expected = set()
            if {"plan", "apply", "drift", "validate"} & set(ran):
                # the hosts besides the region map that credentials may go to, from outside the repository
                # (validate reads it too, to warn about a gateway that plan would refuse)
                assert step["env"]["LLMPLAN_ALLOWED_GATEWAYS"] == "${{ vars.LLMPLAN_ALLOWED_GATEWAYS }}", step.get("name")
            if {"plan", "apply", "drift"} & set(ran):
                expected |= CREDENTIALS
            if {"apply", "governance"} & set(ran):
                expected |= governance_secrets()
            if name in WITH_DATABASE and RECORDS & set(ran) and "services" not in job:
                expected.add(DSN)
            if "services" in job and RECORDS & set(ran):
                # the throwaway database of this job, never a secret
                assert step["env"][DSN].startswith("postgresql://llmplan:rehearsal-only@localhost:5432/"), step.get("name")
            assert used == expected, f"{job_id} / {step.get('name', step.get('uses'))}"
            used_in_job |= used
        if used_in_job:
            expected_environment = PROTECTED.get((name, job_id), {"name": "llmplan-read", "deployment": False})
            assert job["environment"] == expected_environment, f"{job_id}: its secrets live in a GitHub environment"
        else:
            assert "environment" not in job, f"{job_id}: a job without secrets needs no environment"
    assert "LLMPLAN_GATEWAY_URL" not in (WORKFLOWS / name).read_text(encoding="utf-8"), "the address override is for laptops"


def test_service_containers_are_pinned_by_digest_and_only_where_no_secret_is() -> None:
    found = []
    for name in NAMES:
        for job_id, job in workflow(name)["jobs"].items():
            for service, spec in (job.get("services") or {}).items():
                found.append((name, job_id, service))
                image, _, digest = spec["image"].partition("@sha256:")
                repository, _, tag = image.partition(":")
                assert (tag, digest) == IMAGES[repository], spec["image"]
                # a service container lives as long as its job: it may only ever hold a copy
                assert "environment" not in job and not SECRET.search(json.dumps(job)), f"{name} / {job_id}"
    assert found == [("postgres/migrate.yml", "rehearse", "postgres")]
    text = (WORKFLOWS / "postgres" / "migrate.yml").read_text(encoding="utf-8")
    tag, digest = IMAGES["postgres"]
    assert f"image: postgres:{tag}@sha256:{digest} # {tag}\n" in text, "the tag stands in a comment, as for the actions"


@pytest.mark.parametrize("name", NAMES)
def test_no_expression_is_pasted_into_a_script(name: str) -> None:
    for job_id, _, step in steps(workflow(name)):
        for script in (step.get("run"), (step.get("with") or {}).get("script")):
            assert script is None or "${{" not in script, f"{job_id} / {step.get('name')}: pass the value through env"


# --- what is installed --------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_llmplan_is_installed_by_its_action_and_nothing_from_the_repository(name: str) -> None:
    for job_id, job in workflow(name)["jobs"].items():
        installs = [step for step in job["steps"] if "pip" in step.get("run", "").split()]
        actions = [index for index, step in enumerate(job["steps"]) if step.get("uses", "").startswith(f"{LLMPLAN_ACTION}@")]
        running = [index for index, step in enumerate(job["steps"]) if commands(step)]
        if not running:
            assert [step["run"] for step in installs] in ([], [TOOL_INSTALL]), job_id
            assert not actions, f"{job_id} runs no llmplan command"
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/setup-python@"):
                    assert step["with"] == {"python-version": "3.11"}, "no cache: a pull request's run could fill it"
            continue
        # once, before the first llmplan command; the action brings its own Python and installs by hash
        assert len(actions) == 1 and actions[0] < running[0], job_id
        step = job["steps"][actions[0]]
        assert (step["name"], "with" in step) == ("Install llmplan", False), f"{job_id}: the action only installs here"
        assert not installs, f"{job_id}: nothing is installed from the repository"
        assert not any(step.get("uses", "").startswith("actions/setup-python@") for step in job["steps"]), job_id


def test_the_pinned_action_commit_holds_the_action() -> None:
    """The examples work as written: the commit they pin is in this repository's history and holds action.yml."""
    sha = PINS[LLMPLAN_ACTION][0]
    if not (REPO / ".git").exists():
        pytest.fail(f"{REPO} is not a Git checkout: the commit {sha} pinned by the examples cannot be checked")
    found = subprocess.run(["git", "cat-file", "-e", f"{sha}:action.yml"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert found.returncode == 0, (
        f"{sha}, pinned as {LLMPLAN_ACTION} by the examples, is not a commit of this repository holding action.yml "
        f"(a shallow clone, or a merge that rewrote it): pin a commit that has it, in the workflows, PINS and the CI README ({found.stderr.strip()})"
    )


# --- the pull request is data -------------------------------------------------


def test_the_plan_job_installs_the_base_branch_before_the_pull_request_is_on_disk() -> None:
    job = workflow("plan.yml")["jobs"]["plan"]
    names = [step.get("name", step.get("uses", "").split("@")[0]) for step in job["steps"]]
    assert names == [
        "Check out the base branch (its state)",
        "Install llmplan",
        "Check out the pull request's environments/ (data only)",
        "Take the pull request's environments/",
        "Validate",
        "Plan",
        "Comment on the pull request",
        "Upload the plans",
    ]
    base, pull_request = job["steps"][0]["with"], job["steps"][2]["with"]
    assert base["ref"] == "${{ github.event.pull_request.base.sha }}" and "path" not in base
    assert "ref" not in pull_request, "the merge commit GitHub made for the pull request"
    assert pull_request["path"] == "pull-request"
    assert (pull_request["sparse-checkout"], pull_request["sparse-checkout-cone-mode"]) == ("/environments/", False)


def pull_request_checkout(tmp_path: Path) -> tuple[Runner, Path]:
    """A workspace as the plan job has it after both checkouts: the base branch, and pull-request/environments."""
    root = tmp_path / "workspace"
    shutil.copytree(REPO / "environments", root / "environments")
    shutil.copytree(REPO / "environments", root / "pull-request" / "environments")
    return Runner(root), root


def test_the_pull_requests_environments_replace_the_base_branchs(tmp_path: Path) -> None:
    run, root = pull_request_checkout(tmp_path)
    model = root / "pull-request" / "environments" / "dev" / "models" / "support-bot.yaml"
    model.write_text(model.read_text(encoding="utf-8").replace("max_tokens: 2048", "max_tokens: 1024"), encoding="utf-8")
    result, _ = run.step("plan.yml", "plan", "Take the pull request's environments/")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "max_tokens: 1024" in (root / "environments" / "dev" / "models" / "support-bot.yaml").read_text(encoding="utf-8")
    assert not (root / "pull-request").exists()


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("link to a file outside", "pull-request/environments/dev/models/environ.yaml"),
        ("environments is a link", "has no environments/ folder"),
        ("no environments", "has no environments/ folder"),
    ],
)
def test_a_pull_request_with_a_symbolic_link_is_refused_before_llmplan_reads_it(tmp_path: Path, case: str, expected: str) -> None:
    run, root = pull_request_checkout(tmp_path)
    theirs = root / "pull-request" / "environments"
    if case == "link to a file outside":
        # while llmplan plans, /proc/self/environ holds the secret; a quoted parse error would post it in the comment
        (theirs / "dev" / "models" / "environ.yaml").symlink_to("/proc/self/environ")
    else:
        shutil.rmtree(theirs)
        if case == "environments is a link":
            theirs.symlink_to(tmp_path)
    result, _ = run.step("plan.yml", "plan", "Take the pull request's environments/")
    assert result.returncode == 1
    assert "::error title=llmplan::" in result.stdout and expected in result.stdout
    assert sorted(path.name for path in (root / "environments").iterdir()) == sorted(path.name for path in (REPO / "environments").iterdir())
    assert not (root / "environments" / "dev" / "models" / "environ.yaml").exists()


# --- zizmor and GitHub's schema -------------------------------------------------


def tool(name: str) -> str:
    """A command of the test extra, from this interpreter's environment; missing, the test fails."""
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed beside {sys.executable}: install the test extra (make .venv/.installed-test)")
    return found


# the strictest reading: every audit that needs no network, the auditor
# persona, no configuration file and no ignore comment honoured, and a file
# that does not parse is an error rather than a warning
ZIZMOR = ("--offline", "--persona", "auditor", "--no-config", "--no-ignores", "--strict-collection", "--format", "json")


def zizmor(folder: Path) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    result = subprocess.run(
        [tool("zizmor"), *ZIZMOR, *(str(folder / name) for name in NAMES)],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )
    findings = json.loads(result.stdout) if result.stdout.strip() else []
    return result, findings


def test_zizmor_finds_nothing_in_the_examples() -> None:
    result, findings = zizmor(WORKFLOWS)
    assert [(finding["ident"], finding["locations"][0]["symbolic"]["key"]) for finding in findings] == []
    assert result.returncode == 0, result.stderr


def readme_zizmor_commands() -> list[str]:
    """The zizmor command lines of the CI README's code block, continuations joined."""
    readme = (WORKFLOWS / "README.md").read_text(encoding="utf-8")
    (block,) = [body for language, body in code_blocks(readme) if language == "sh" and "zizmor " in body]
    joined = block.replace("\\\n", " ")
    return [line for line in joined.splitlines() if line.startswith("zizmor ")]


def test_the_readmes_zizmor_commands_find_nothing_in_this_repository_and_in_a_configuration_repository(tmp_path: Path) -> None:
    here, there = readme_zizmor_commands()
    environ = {"PATH": f"{Path(tool('zizmor')).parent}{os.pathsep}/usr/bin{os.pathsep}/bin", "NO_COLOR": "1"}
    # in llmplan's repository: the example files, named (given the folder, zizmor collects nothing from it)
    done = subprocess.run(["bash", "-c", here], cwd=REPO, capture_output=True, text=True, timeout=120, env=environ)
    assert done.returncode == 0 and "No findings to report" in done.stdout, done.stdout + done.stderr
    assert done.stderr.count("completed examples/ci/github-actions/") == len(NAMES), done.stderr
    # in a configuration repository with the workflows in place: the folder is enough
    workflows = tmp_path / "llm-config" / ".github" / "workflows"
    workflows.mkdir(parents=True)
    for name in ("plan.yml", "apply.yml", "drift.yml"):
        shutil.copy(WORKFLOWS / name, workflows / f"llmplan-{name}")
    done = subprocess.run(["bash", "-c", there], cwd=tmp_path / "llm-config", capture_output=True, text=True, timeout=120, env=environ)
    assert done.returncode == 0 and "No findings to report" in done.stdout, done.stdout + done.stderr
    assert done.stderr.count("completed ./.github/workflows/llmplan-") == 3, done.stderr


@pytest.mark.parametrize(
    ("name", "hardened", "undone", "audit"),
    [
        ("plan.yml", "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1", "actions/checkout@v7", "unpinned-uses"),
        ("drift.yml", "persist-credentials: false", "persist-credentials: true", "artipacked"),
        ("plan.yml", 'echo "exitcode=$code"', 'echo "exitcode=$code ${{ github.event.pull_request.title }}"', "template-injection"),
        ("drift.yml", "permissions: {} # nothing by default", "permissions: write-all #", "excessive-permissions"),
        ("drift.yml", "    environment:\n      name: llmplan-read # the read-only client, as in plan.yml\n      deployment: false # checking for drift deploys nothing\n", "", "secrets-outside-env"),
        ("postgres/migrate.yml", "postgres:17.11@sha256:d74eeac9a635390a49bc21bd49fccd973de707e2a53a76ac49b552b8712ec46f", "postgres:17.11", "unpinned-images"),
        ("postgres/migrate.yml", "    environment: ${{ inputs.environment }} # protected: waits for a required reviewer's approval\n", "", "secrets-outside-env"),
        ("postgres/apply.yml", '"state/$ENV/state.json" "$ENV" <<', '"state/$ENV/state.json" "${{ inputs.environment }}" <<', "template-injection"),
    ],
)
def test_zizmor_finds_each_hardening_undone(tmp_path: Path, name: str, hardened: str, undone: str, audit: str) -> None:
    for other in NAMES:
        (tmp_path / other).parent.mkdir(exist_ok=True)
        shutil.copy(WORKFLOWS / other, tmp_path / other)
    text = (tmp_path / name).read_text(encoding="utf-8")
    assert hardened in text
    (tmp_path / name).write_text(text.replace(hardened, undone), encoding="utf-8")
    result, findings = zizmor(tmp_path)
    assert audit in {finding["ident"] for finding in findings}, result.stdout + result.stderr
    assert result.returncode != 0


def check_jsonschema(*paths: Path) -> subprocess.CompletedProcess[str]:
    """GitHub's workflow schema from SchemaStore, as check-jsonschema ships it (no network)."""
    return subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )


def test_githubs_workflow_schema_validates_the_examples() -> None:
    result = check_jsonschema(*(WORKFLOWS / name for name in NAMES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_githubs_workflow_schema_refuses_a_broken_workflow(tmp_path: Path) -> None:
    text = (WORKFLOWS / "drift.yml").read_text(encoding="utf-8")
    broken = tmp_path / "drift.yml"
    broken.write_text(text.replace("issues: write # the drift issue", "issues: readwrite # the drift issue"), encoding="utf-8")
    result = check_jsonschema(broken)
    assert result.returncode == 1
    assert "drift.yml" in result.stdout and "readwrite" in result.stdout

"""Policy tools judge a real plan: the CLI plans against the sandbox, then
the plan workflow's policy gate runs as GitHub runs it: checkov with the
custom check of docs/policies.md, and the Rego policy, evaluated by regopy
(rego-cpp's binding: OPA's binary is not on PyPI), read plan.json as a
Terraform plan. The gate fails closed: no policy folder, a folder without
a policy, or policies that judge no model of the plan fail it.

Both tools come with the test extra; a missing one fails these tests."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.plan.e2e_project import THREE_MODELS, Admin, Project

REPO = Path(__file__).resolve().parents[2]
CHECKOV_POLICIES = REPO / "examples" / "policies" / "checkov"
OPA_POLICIES = REPO / "examples" / "policies" / "opa"
REGO_POLICY = OPA_POLICIES / "llm_compliance.rego"
PLAN_WORKFLOW = REPO / "examples" / "ci" / "github-actions" / "plan.yml"
POLICIES_DOC = REPO / "docs" / "policies.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def doc_blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(POLICIES_DOC.read_text(encoding="utf-8")) if lang == language]


def checkov_executable() -> str:
    found = shutil.which("checkov", path=str(Path(sys.executable).parent)) or shutil.which("checkov")
    if found is None:
        pytest.fail("checkov is not installed: it comes with the test extra (make .venv/.installed-test)")
    return found


def gate_step(name: str) -> dict[str, Any]:
    """A step of the plan workflow's policy job."""
    steps = yaml.safe_load(PLAN_WORKFLOW.read_text(encoding="utf-8"))["jobs"]["policy"]["steps"]
    (found,) = [step for step in steps if step.get("name") == name]
    return found


def run_gate_step(root: Path, name: str) -> subprocess.CompletedProcess[str]:
    """The step's script as GitHub runs it (bash, the step's env) in the user's
    repository: policies/ beside environments/, plans/dev.plan.json saved by the
    plan job; checkov and python from the test extra, opa from RUNNER_TEMP."""
    step = gate_step(name)
    script = root.parent / "step.sh"
    script.write_text(step["run"], encoding="utf-8")
    runner_temp = root.parent / "runner-temp"
    runner_temp.mkdir(exist_ok=True)
    environ = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(root.parent),
        "RUNNER_TEMP": str(runner_temp),
        **step.get("env", {}),
    }
    options = ["--noprofile", "--norc", "-eo", "pipefail"] if step.get("shell") == "bash" else ["-e"]
    return subprocess.run(["bash", *options, str(script)], cwd=root, env=environ, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def with_policies(project: Project, *tools: str) -> None:
    """The user's copy of the shipped policies, as the CI README's set-up says."""
    for tool in tools:
        target = project.root / "policies" / tool
        if not target.exists():
            shutil.copytree(REPO / "examples" / "policies" / tool, target)


def run_checkov_gate(project: Project) -> tuple[int, dict[str, Any]]:
    with_policies(project, "checkov")
    done = run_gate_step(project.root, "Policy gate (checkov)")
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads((project.root / "checkov-dev.json").read_text(encoding="utf-8"))


def plan_file(project: Project) -> Path:
    """``llmplan plan --out plans/`` of the environments, as the workflow runs it (a child process): plans/dev.plan.json."""
    done = project.subprocess("plan", "--all", "--format", "markdown", "--out", str(project.root / "plans"), "--detailed-exitcode")
    assert done.code in (0, 2), done
    return project.root / "plans" / "dev.plan.json"


def checks(report: dict[str, Any], kind: str) -> list[tuple[str, str]]:
    return sorted((check["check_id"], check["resource"]) for check in report["results"][kind])


def test_the_workflow_gate_runs_the_documented_checkov_command() -> None:
    script = gate_step("Policy gate (checkov)")["run"].replace("\\\n", " ")
    (line,) = [line.strip() for line in script.splitlines() if line.strip().startswith("checkov ")]
    assert shlex.split(line.replace("$plan", "plans/dev.plan.json").replace("$env", "dev")) == [
        "checkov", "--file", "plans/dev.plan.json", "--framework", "terraform_plan",
        "--external-checks-dir", "policies/checkov", "--skip-download", "--compact",
        "--output", "cli", "--output", "json", "--output-file-path", "console,checkov-dev.json",
        "||", "code=1",  # every plan is judged, the gate fails after
    ]
    assert "for plan in plans/*.plan.json; do" in script


@pytest.mark.slow(reason='checkov twice, as the plan workflow runs it: it takes 3 s of CPU just to start')
def test_checkov_fails_the_models_that_are_not_strict_then_passes_the_fixed_plan(project: Project, admin: Admin) -> None:
    project.write_models(THREE_MODELS)  # support-bot strict; summarizer and intent-router standard
    plan_file(project)

    code, report = run_checkov_gate(project)
    assert code == 1, "a failed check must fail the gate"
    assert report["summary"]["resource_count"] == 3
    assert (report["summary"]["passed"], report["summary"]["failed"]) == (1, 2)
    assert checks(report, "passed_checks") == [("CKV2_LLM_1", "support-bot")]
    assert checks(report, "failed_checks") == [("CKV2_LLM_1", "intent-router"), ("CKV2_LLM_1", "summarizer")]

    for address in ("summarizer", "intent-router"):
        project.write_model(address, THREE_MODELS[address] + "compliance_mode: strict\n")
    plan = plan_file(project)
    code, report = run_checkov_gate(project)
    assert code == 0, report["results"]["failed_checks"]
    assert (report["summary"]["passed"], report["summary"]["failed"]) == (3, 0)

    # the gated file is the plan apply takes, unchanged
    done = project.run("apply", str(plan), "--auto-approve")
    assert done.code == 0, done
    assert admin.configuration("b2c3d4e5-f6a7-4890-9bcd-ef1234567891")["compliance_mode"] == "strict"


def rego_denials(plan: Path) -> list[str]:
    try:
        import regopy
    except ImportError:
        pytest.fail("regopy is not installed: it comes with the test extra (make .venv/.installed-test)")
    rego = regopy.Interpreter()
    rego.add_module(REGO_POLICY.name, REGO_POLICY.read_text(encoding="utf-8"))
    rego.set_input_term(plan.read_text(encoding="utf-8"))
    output = rego.query("data.llmplan.deny")
    assert output.ok(), str(output)
    (denials,) = json.loads(str(output))["expressions"]
    return sorted(denials)


def test_the_rego_policy_denies_the_models_that_are_not_strict(project: Project) -> None:
    project.write_models(THREE_MODELS)
    plan = plan_file(project)
    assert rego_denials(plan) == [
        "intent-router: compliance_mode is standard, not strict",
        "summarizer: compliance_mode is standard, not strict",
    ]
    for address in ("summarizer", "intent-router"):
        project.write_model(address, THREE_MODELS[address] + "compliance_mode: strict\n")
    assert rego_denials(plan_file(project)) == []


# --- the gate fails closed ----------------------------------------------------

OPA_STAND_IN = """#!{python}
# A stand-in for `opa eval` in these tests (OPA's binary is not on PyPI): the
# arguments the policy gate passes, evaluated by rego-cpp through regopy.
import argparse, pathlib, sys
import regopy
parser = argparse.ArgumentParser()
parser.add_argument("command", choices=["eval"])
parser.add_argument("--fail", action="store_true")
parser.add_argument("--format", default="json")
parser.add_argument("--data", action="append", default=[])
parser.add_argument("--input")
parser.add_argument("query")
args = parser.parse_args()
rego = regopy.Interpreter()
for folder in args.data:
    for path in sorted(pathlib.Path(folder).rglob("*.rego")):
        rego.add_module(str(path), path.read_text(encoding="utf-8"))
if args.input:
    rego.set_input_term(pathlib.Path(args.input).read_text(encoding="utf-8"))
output = rego.query(args.query)
if not output.ok():
    sys.exit(str(output))
print(output)
sys.exit(1 if args.fail and str(output) == "undefined" else 0)  # --fail: an undefined result fails
"""


def test_the_gate_refuses_to_pass_without_a_policy(tmp_path: Path) -> None:
    root = tmp_path / "llm-config"
    (root / "environments").mkdir(parents=True)
    done = run_gate_step(root, "Require policies")
    assert done.returncode == 1
    assert "::error title=llmplan policy gate::policies/checkov/ holds no checkov check (*.yaml, *.yml or *.py) on the base branch" in done.stdout
    assert "::error title=llmplan policy gate::policies/opa/ holds no Rego policy (*.rego) on the base branch" in done.stdout

    (root / "policies" / "checkov").mkdir(parents=True)
    (root / "policies" / "checkov" / "README.md").write_text("our checks go here\n", encoding="utf-8")
    shutil.copytree(OPA_POLICIES, root / "policies" / "opa")
    done = run_gate_step(root, "Require policies")
    assert done.returncode == 1 and done.stdout.count("::error") == 1 and "policies/checkov/ holds no checkov check" in done.stdout

    shutil.copy(CHECKOV_POLICIES / "llm_strict_compliance.yaml", root / "policies" / "checkov")
    done = run_gate_step(root, "Require policies")
    assert (done.returncode, done.stdout) == (0, ""), done.stdout + done.stderr


def test_checkov_checks_that_judge_no_model_fail_the_gate(project: Project) -> None:
    project.write_models(THREE_MODELS)
    plan_file(project)
    # a check the team copied for another resource type: checkov itself passes the plan
    checks_dir = project.root / "policies" / "checkov"
    checks_dir.mkdir(parents=True)
    check = (CHECKOV_POLICIES / "llm_strict_compliance.yaml").read_text(encoding="utf-8")
    (checks_dir / "s3.yaml").write_text(check.replace("llm_model_configuration", "aws_s3_bucket"), encoding="utf-8")
    done = run_gate_step(project.root, "Policy gate (checkov)")
    assert done.returncode == 1
    assert "::error title=llmplan policy gate (dev)::no checkov check in policies/checkov judged any model of plans/dev.plan.json" in done.stdout
    report = json.loads((project.root / "checkov-dev.json").read_text(encoding="utf-8"))
    assert (report["passed"], report["failed"]) == (0, 0), "what checkov says on its own: nothing failed"


def test_the_opa_gate_denies_passes_and_refuses_policies_that_define_no_denials(project: Project) -> None:
    opa = project.root.parent / "runner-temp" / "opa"  # where the workflow's Install OPA step puts it
    opa.parent.mkdir(parents=True, exist_ok=True)
    opa.write_text(OPA_STAND_IN.format(python=sys.executable), encoding="utf-8")
    opa.chmod(0o755)
    with_policies(project, "opa")
    project.write_models(THREE_MODELS)
    plan_file(project)

    done = run_gate_step(project.root, "Policy gate (OPA)")
    assert done.returncode == 1
    assert "intent-router: compliance_mode is standard, not strict" in done.stdout  # the denials, in the log
    assert "::error title=llmplan policy gate (dev)::the OPA policies in policies/opa deny plans/dev.plan.json" in done.stdout

    for address in ("summarizer", "intent-router"):
        project.write_model(address, THREE_MODELS[address] + "compliance_mode: strict\n")
    plan_file(project)
    done = run_gate_step(project.root, "Policy gate (OPA)")
    assert done.returncode == 0 and "::error" not in done.stdout, done.stdout + done.stderr

    # a policy of another package judges nothing: data.llmplan.deny is undefined, and the gate refuses
    policy = project.root / "policies" / "opa" / "llm_compliance.rego"
    policy.write_text(policy.read_text(encoding="utf-8").replace("package llmplan", "package acme.llm"), encoding="utf-8")
    done = run_gate_step(project.root, "Policy gate (OPA)")
    assert done.returncode == 1
    assert "::error title=llmplan policy gate::policies/opa defines no data.llmplan.deny" in done.stdout


def test_the_opa_gate_downloads_a_pinned_release_and_checks_its_sha256_before_running_it() -> None:
    install = gate_step("Install OPA")
    version, digest = install["env"]["OPA_VERSION"], install["env"]["OPA_SHA256"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version) and re.fullmatch(r"[0-9a-f]{64}", digest)
    lines = [line.strip() for line in install["run"].replace("\\\n", " ").splitlines()]
    assert lines[0].startswith("curl --fail --location --silent --show-error --proto '=https' --tlsv1.2 ")
    assert lines[0].endswith('--output "$RUNNER_TEMP/opa" "https://github.com/open-policy-agent/opa/releases/download/v$OPA_VERSION/opa_linux_amd64_static"')
    # checked before anything runs it
    assert lines[1:] == ["printf '%s  %s\\n' \"$OPA_SHA256\" \"$RUNNER_TEMP/opa\" | sha256sum --check --strict", 'chmod 0755 "$RUNNER_TEMP/opa"', '"$RUNNER_TEMP/opa" version']


def test_the_policies_shown_in_the_docs_are_the_shipped_and_tested_ones() -> None:
    (checkov_policy,) = [body for body in doc_blocks("yaml") if body.startswith("# A checkov custom check")]
    assert checkov_policy == (CHECKOV_POLICIES / "llm_strict_compliance.yaml").read_text(encoding="utf-8")
    (rego_policy,) = doc_blocks("rego")
    assert rego_policy == REGO_POLICY.read_text(encoding="utf-8")
    (gate_job,) = [body for body in doc_blocks("yaml") if body.startswith("policy:\n  # The team's policies")]
    assert yaml.safe_load(gate_job) == {"policy": yaml.safe_load(PLAN_WORKFLOW.read_text(encoding="utf-8"))["jobs"]["policy"]}


@pytest.mark.slow(reason='checkov as the docs run it: 3 s of CPU just to start')
def test_the_checkov_run_of_the_docs_prints_what_they_show(project: Project) -> None:
    (session,) = [body for body in doc_blocks("console") if "checkov --file plan.json" in body]
    plan_line, checkov_line, *shown = session.splitlines(keepends=True)
    project.write_models(THREE_MODELS)
    planned = project.subprocess(*shlex.split(plan_line.removeprefix("$ llmplan ")), cwd=project.root)
    assert planned.code == 0, planned
    shutil.copytree(CHECKOV_POLICIES, project.root / "examples" / "policies" / "checkov")
    command = shlex.split(checkov_line.removeprefix("$ "))
    done = subprocess.run([checkov_executable(), *command[1:]], cwd=project.root, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 1, done.stderr
    printed = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)
    assert printed.endswith("".join(shown) + "\n"), printed  # after checkov's banner

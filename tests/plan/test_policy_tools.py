"""Policy tools judge a real plan: the CLI plans against the sandbox, then
checkov (with the custom check of docs/policies.md, run as the plan workflow
runs it) and the Rego policy (evaluated by regopy, rego-cpp's binding: OPA's
binary is not on PyPI) read plan.json as a Terraform plan.

Both tools come with the test extra; a missing one fails these tests."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_project import THREE_MODELS, Admin, Project

REPO = Path(__file__).resolve().parents[2]
CHECKOV_POLICIES = REPO / "examples" / "policies" / "checkov"
REGO_POLICY = REPO / "examples" / "policies" / "opa" / "llm_compliance.rego"
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


def gate_command() -> list[str]:
    """The checkov command line of the plan workflow's policy gate, for environment dev."""
    steps = yaml.safe_load(PLAN_WORKFLOW.read_text(encoding="utf-8"))["jobs"]["policy"]["steps"]
    (gate,) = [step for step in steps if step.get("name") == "Policy gate (checkov)"]
    (line,) = [line for line in gate["run"].splitlines() if line.startswith("checkov ")]
    return shlex.split(line.replace("$ENV", "dev"))


def run_gate(project: Project) -> tuple[int, dict[str, Any]]:
    """The workflow's gate in a copy of the user's repository: policies/checkov
    beside environments/, plan-dev.json saved by the plan step."""
    policies = project.root / "policies" / "checkov"
    if not policies.exists():
        shutil.copytree(CHECKOV_POLICIES, policies)
    command = [checkov_executable(), *gate_command()[1:], "--output", "json"]
    done = subprocess.run(command, cwd=project.root, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def plan_file(project: Project) -> Path:
    """``llmplan plan --out plan-dev.json`` as the workflow runs it (a child process)."""
    done = project.subprocess("plan", "--env", "dev", "--format", "markdown", "--out", str(project.root / "plan-dev.json"), "--detailed-exitcode")
    assert done.code in (0, 2), done
    return project.root / "plan-dev.json"


def checks(report: dict[str, Any], kind: str) -> list[tuple[str, str]]:
    return sorted((check["check_id"], check["resource"]) for check in report["results"][kind])


def test_the_workflow_gate_runs_the_documented_checkov_command() -> None:
    assert gate_command() == [
        "checkov", "--file", "plan-dev.json", "--framework", "terraform_plan",
        "--external-checks-dir", "policies/checkov", "--skip-download", "--compact",
    ]


@pytest.mark.slow(reason='checkov twice, as the plan workflow runs it: it takes 3 s of CPU just to start')
def test_checkov_fails_the_models_that_are_not_strict_then_passes_the_fixed_plan(project: Project, admin: Admin) -> None:
    project.write_models(THREE_MODELS)  # support-bot strict; summarizer and intent-router standard
    plan_file(project)

    code, report = run_gate(project)
    assert code == 1, "a failed check must fail the gate"
    assert report["summary"]["resource_count"] == 3
    assert (report["summary"]["passed"], report["summary"]["failed"]) == (1, 2)
    assert checks(report, "passed_checks") == [("CKV2_LLM_1", "support-bot")]
    assert checks(report, "failed_checks") == [("CKV2_LLM_1", "intent-router"), ("CKV2_LLM_1", "summarizer")]

    for address in ("summarizer", "intent-router"):
        project.write_model(address, THREE_MODELS[address] + "compliance_mode: strict\n")
    plan = plan_file(project)
    code, report = run_gate(project)
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


def test_the_policies_shown_in_the_docs_are_the_shipped_and_tested_ones() -> None:
    (checkov_policy,) = [body for body in doc_blocks("yaml") if body.startswith("# A checkov custom check")]
    assert checkov_policy == (CHECKOV_POLICIES / "llm_strict_compliance.yaml").read_text(encoding="utf-8")
    (rego_policy,) = doc_blocks("rego")
    assert rego_policy == REGO_POLICY.read_text(encoding="utf-8")
    (gate_job,) = [body for body in doc_blocks("yaml") if body.startswith("policy:\n  # The team's checkov")]
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

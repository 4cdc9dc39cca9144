"""Safety in the GitHub Actions examples: a plan that weakens a model's
safety is applied only in a run someone started by hand with
allow_weakening, and says so to the approver; drift pages separately for a
weakening made outside llmplan. The steps run against the sandbox gateway."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.docs.docs_helpers import REPO, Runner, find_step, workflow


def project(tmp_path: Path, weakening: str) -> Runner:
    """A copy of the example dev environment (on the built-in sandbox; drift --all checks every environment
    there is, and staging and prod need their real gateways) with ``apply.weakening: WEAKENING``, applied once."""
    root = tmp_path / "llm-config"
    shutil.copytree(REPO / "environments" / "dev", root / "environments" / "dev")
    settings = root / "environments" / "dev" / "environment.yaml"
    settings.write_text(settings.read_text(encoding="utf-8").replace("weakening: allow", f"weakening: {weakening}"), encoding="utf-8")
    run = Runner(root)
    run.environ["GITHUB_ACTOR"] = "octocat"
    assert llmplan(run, "apply", "--env", "dev", "--auto-approve").returncode == 0
    return run


def llmplan(run: Runner, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["llmplan", *args], cwd=run.root, env=run.environ, capture_output=True, text=True, timeout=120)


@pytest.mark.slow(reason="the workflow's steps one after another, each a bash script running llmplan as a child process")
@pytest.mark.parametrize("weakening", ["refuse", "confirm"])  # prod's and staging's settings
def test_a_weakening_is_applied_only_in_a_run_started_by_hand_with_allow_weakening(tmp_path: Path, weakening: str) -> None:
    run = project(tmp_path, weakening)
    settings = run.root / "environments" / "dev" / "environment.yaml"
    settings.write_text(settings.read_text(encoding="utf-8").replace("action: redact, threshold: 80", "action: flag, threshold: 80"), encoding="utf-8")
    result, _ = run.step("apply.yml", "plan", "Plan main")
    assert result.returncode == 0, result.stderr

    # a push: the approver is warned above the plan, and apply refuses it
    result, _ = run.step("apply.yml", "plan", "Show the plan", SOURCE="a plan of main", ALLOW_WEAKENING="false")
    assert result.returncode == 0, result.stderr
    assert "::warning title=llmplan plan (dev)::2 change(s) weaken safety and this run does not allow weakenings" in result.stdout
    summary = run.summary.read_text(encoding="utf-8")
    assert "> [!CAUTION]\n> 2 change(s) weaken safety, and this run does not allow weakenings" in summary
    assert "start this workflow by hand for dev with `allow_weakening`" in summary
    assert summary.index("[!CAUTION]") < summary.index("This plan weakens safety: 2 settings of 2 models")
    result, _ = run.step("apply.yml", "apply", "Apply the approved plan", ALLOW_WEAKENING="false")
    assert result.returncode == 1
    assert "pii" in result.stderr and "--allow-weakening" in result.stderr
    assert "Apply complete" not in result.stdout

    # started by hand with allow_weakening: the approver sees who allowed it, and the audit trail records it
    run.summary.write_text("", encoding="utf-8")
    result, _ = run.step("apply.yml", "plan", "Show the plan", SOURCE="a plan of main", ALLOW_WEAKENING="true")
    assert result.returncode == 0 and "::warning" not in result.stdout
    summary = run.summary.read_text(encoding="utf-8")
    assert "> [!WARNING]\n> **This run allows weakenings.** 2 change(s) weaken safety, and octocat started this run by hand with `allow_weakening`" in summary
    result, _ = run.step("apply.yml", "apply", "Apply the approved plan", ALLOW_WEAKENING="true")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Apply complete: 2 succeeded, 0 failed, 0 not attempted." in result.stdout
    entries = json.loads(llmplan(run, "audit", "show", "--env", "dev", "--format", "json").stdout)
    allowed = {(entry["safety"]["allowed_by"], entry["safety"]["allowed_via"]) for entry in entries if (entry.get("safety") or {}).get("classification") == "weakens"}
    assert allowed == {("octocat (GITHUB_ACTOR)", "--allow-weakening")}


@pytest.mark.slow(reason="the workflow's steps one after another, each a bash script running llmplan as a child process")
def test_a_plan_without_weakenings_gets_no_note(tmp_path: Path) -> None:
    run = project(tmp_path, "refuse")
    model = run.root / "environments" / "dev" / "models" / "support-bot.yaml"
    model.write_text(model.read_text(encoding="utf-8").replace("max_tokens: 2048", "max_tokens: 1024"), encoding="utf-8")
    assert run.step("apply.yml", "plan", "Plan main")[0].returncode == 0
    result, _ = run.step("apply.yml", "plan", "Show the plan", SOURCE="a plan of main", ALLOW_WEAKENING="false")
    assert result.returncode == 0 and "::warning" not in result.stdout
    assert "[!" not in run.summary.read_text(encoding="utf-8")
    result, _ = run.step("apply.yml", "apply", "Apply the approved plan", ALLOW_WEAKENING="false")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow(reason="the workflow's steps one after another, each a bash script running llmplan as a child process")
def test_drift_pages_separately_for_a_weakening_made_outside_llmplan(tmp_path: Path) -> None:
    run = project(tmp_path, "refuse")
    support_bot = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
    fail = find_step(workflow("drift.yml"), "drift", "Fail the run when safety was weakened")
    assert fail["if"] == "steps.weakening.outputs.weakened == 'true' || steps.drift.outputs.failed == 'true' || steps.weakening.outputs.failed == 'true'"

    # a console edit that weakens nothing: drift (an issue), no page
    assert llmplan(run, "sandbox", "edit", "--env", "dev", support_bot, "max_tokens=1024").returncode == 0
    result, outputs = run.step("drift.yml", "drift", "Detect drift")
    assert (result.returncode, outputs) == (0, {"drift": "true"}), result.stderr
    result, outputs = run.step("drift.yml", "drift", "Detect safety weakened")
    assert (result.returncode, outputs) == (0, {"weakened": "false"}), result.stderr

    # a console edit that weakens: its own report, and the run fails after the issues are written
    assert llmplan(run, "sandbox", "edit", "--env", "dev", support_bot, "compliance_mode=permissive").returncode == 0
    result, outputs = run.step("drift.yml", "drift", "Detect safety weakened")
    assert (result.returncode, outputs) == (0, {"weakened": "true"}), result.stderr
    report = (run.root / "weakened.md").read_text(encoding="utf-8")
    assert report.startswith("### llmplan drift · 1 environment · 1 with safety weakened outside llmplan\n")
    assert "#### ⚠️ Safety weakened outside llmplan: 1 model" in report and '`"permissive" → "strict"`' in report  # live → last applied
    result, _ = run.step("drift.yml", "drift", "Fail the run when safety was weakened", WEAKENED="true")
    assert result.returncode == 1
    assert "::error title=llmplan safety::safety was weakened outside llmplan" in result.stdout
    assert "not every environment could be checked" not in result.stdout

    # a region that cannot be checked hides no weakening in the others: the page goes out, then the run fails
    shutil.copytree(run.root / "environments" / "dev", run.root / "environments" / "eu")
    broken = run.root / "environments" / "eu" / "models" / "support-bot.yaml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("max_tokens: 2048", "max_tokens: lots"), encoding="utf-8")
    result, outputs = run.step("drift.yml", "drift", "Detect drift")
    assert (result.returncode, outputs) == (0, {"drift": "true", "failed": "true"}), result.stderr
    assert (run.root / "drift.md").read_text(encoding="utf-8").startswith("### llmplan drift · 2 environments · 1 drifted, 1 failed\n")
    result, outputs = run.step("drift.yml", "drift", "Detect safety weakened")
    assert (result.returncode, outputs) == (0, {"weakened": "true", "failed": "true"}), result.stderr
    assert "::error title=llmplan drift::weakenings could not be checked in every environment (exit code 1)" in result.stdout
    report = (run.root / "weakened.md").read_text(encoding="utf-8")
    assert report.startswith("### llmplan drift · 2 environments · 1 with safety weakened outside llmplan, 1 failed\n"), report
    result, _ = run.step("drift.yml", "drift", "Fail the run when safety was weakened", WEAKENED="true", UNCHECKED="true")
    assert result.returncode == 1
    assert "::error title=llmplan safety::safety was weakened outside llmplan" in result.stdout
    assert "::error title=llmplan drift::not every environment could be checked" in result.stdout

    # an error is never "not weakened": with nothing found in the others, the safety issue is left as it is
    model = run.root / "environments" / "dev" / "models" / "support-bot.yaml"
    model.write_text(model.read_text(encoding="utf-8").replace("max_tokens: 2048", "max_tokens: lots"), encoding="utf-8")
    result, outputs = run.step("drift.yml", "drift", "Detect safety weakened")
    assert (result.returncode, outputs) == (0, {"weakened": "unknown", "failed": "true"}), result.stderr
    assert "::error title=llmplan drift::weakenings could not be checked in every environment (exit code 1)" in result.stdout
    result, _ = run.step("drift.yml", "drift", "Fail the run when safety was weakened", WEAKENED="unknown", UNCHECKED="true")
    assert result.returncode == 1
    assert "::error title=llmplan drift::not every environment could be checked" in result.stdout and "llmplan safety" not in result.stdout

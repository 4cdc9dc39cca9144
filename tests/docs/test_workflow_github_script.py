"""The github-script steps of the GitHub Actions examples, run by Node.js
against a fake GitHub (github_script_harness.js) that records the API calls:
one comment per environment on the pull request, one drift issue per
environment, each found again and updated rather than duplicated."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.docs.docs_helpers import find_step, workflow

HARNESS = Path(__file__).parent / "github_script_harness.js"


def node() -> str:
    """Node.js runs the script bodies, as actions/github-script does; without it the test fails."""
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is not on PATH: the github-script steps cannot be checked (it is part of this machine image)")
    return found


def github_script(tmp_path: Path, name: str, job_id: str, step_name: str, scenario: dict[str, Any], files: dict[str, str], **env: str) -> list[dict[str, Any]]:
    """The GitHub API calls the step's script makes, given existing comments/issues and files."""
    step = find_step(workflow(name), job_id, step_name)
    assert step["uses"].startswith("actions/github-script@")
    (tmp_path / "script.js").write_text(step["with"]["script"], encoding="utf-8")
    (tmp_path / "scenario.json").write_text(json.dumps(scenario), encoding="utf-8")
    for file_name, text in files.items():
        (tmp_path / file_name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        [node(), str(HARNESS), "script.js", "scenario.json"],
        cwd=tmp_path, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RUN_URL": "https://run/1", **env},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [call for call in json.loads(result.stdout) if call["call"] not in ("info", "notice")]


PLAN_MD = "### llmplan · `prod` · Plan: 0 to create, 1 to update, 0 to forget.\n"
MARKED = "<!-- llmplan:prod -->"


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


def test_a_quiet_plan_adds_no_comment_but_updates_an_earlier_one(tmp_path: Path) -> None:
    files = {"plan-prod.md": "### llmplan · `prod` · No changes.\n"}
    assert github_script(tmp_path, "plan.yml", "plan", "Comment", {"comments": []}, files, ENV="prod", PLAN_OUTCOME="success", QUIET="true") == []
    earlier = {"comments": [{"id": 12, "user": {"type": "Bot"}, "body": f"{MARKED}\nPlan: 1 to update"}]}
    (updated,) = github_script(tmp_path, "plan.yml", "plan", "Comment", earlier, files, ENV="prod", PLAN_OUTCOME="success", QUIET="true")
    assert updated["call"] == "updateComment" and "No changes." in updated["body"]


@pytest.mark.parametrize(("validate", "failed_step"), [("success", "plan"), ("failure", "validate")])
def test_a_failed_plan_is_reported_in_the_comment_with_its_errors(tmp_path: Path, validate: str, failed_step: str) -> None:
    log = "Error: environment prod is not valid: 1 problem\n  environments/prod/models/support-bot.yaml:9 max_tokens: 9000 is greater than the maximum of 8192\n"
    outcomes = {"VALIDATE_OUTCOME": validate, "PLAN_OUTCOME": "skipped" if validate == "failure" else "failure"}
    (created,) = github_script(tmp_path, "plan.yml", "plan", "Comment", {"comments": []}, {"llmplan-prod.log": log}, ENV="prod", **outcomes)
    assert created["call"] == "createComment"
    assert f"❌ {failed_step} failed" in created["body"]
    assert "```\n" + log.strip() + "\n```" in created["body"]


DRIFT_MD = "### llmplan drift · `prod` · 1 of 4 models drifted\n"


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


WEAKENED_MD = "### llmplan drift · `prod` · 1 of 4 models drifted\n\n#### ⚠️ Safety weakened outside llmplan: 1 model\n"
SAFETY = "<!-- llmplan-safety:prod -->"


@pytest.mark.parametrize("name", ["drift.yml", "postgres/drift.yml"])
def test_a_weakening_opens_its_own_safety_issue_that_mentions_on_call(tmp_path: Path, name: str) -> None:
    files = {"drift-prod.md": DRIFT_MD, "weakened-prod.md": WEAKENED_MD}
    calls = github_script(tmp_path, name, "drift", "Open", {"issues": []}, files, ENV="prod", DRIFT="true", WEAKENED="true", PAGE="@acme/llm-oncall")
    drift_label, drift_issue, safety_label, safety_issue = calls
    assert (drift_label["name"], drift_issue["labels"]) == ("llmplan-drift", ["llmplan-drift"])
    assert "@acme" not in drift_issue["body"], "ordinary drift pages nobody"
    assert (safety_label["call"], safety_label["name"], safety_label["color"]) == ("createLabel", "llmplan-safety", "b60205")
    assert safety_issue["call"] == "create" and safety_issue["labels"] == ["llmplan-safety"]
    assert safety_issue["title"] == "llmplan: safety weakened outside llmplan in prod"
    assert safety_issue["body"].startswith(f"{SAFETY}\n@acme/llm-oncall safety was weakened outside llmplan in `prod`.\n{WEAKENED_MD}")

    # without LLMPLAN_SAFETY_PAGE the issue (and its label) is the signal: no mention
    (created,) = github_script(tmp_path, name, "drift", "Open", {"labels": ["llmplan-safety"]}, files, ENV="prod", DRIFT="false", WEAKENED="true", PAGE="")
    assert created["call"] == "create" and created["body"].startswith(f"{SAFETY}\n{WEAKENED_MD}")


@pytest.mark.parametrize("name", ["drift.yml", "postgres/drift.yml"])
def test_the_safety_issue_is_updated_and_closed_apart_from_the_drift_issue(tmp_path: Path, name: str) -> None:
    files = {"drift-prod.md": DRIFT_MD, "weakened-prod.md": WEAKENED_MD}
    (opened,) = github_script(tmp_path, name, "drift", "Open", {"labels": ["llmplan-safety"]}, files, ENV="prod", DRIFT="false", WEAKENED="true")
    safety = {"number": 8, "state": "open", "labels": ["llmplan-safety"], "body": opened["body"]}
    drift = {"number": 3, "state": "open", "labels": ["llmplan-drift"], "body": "<!-- llmplan-drift:prod -->\nan older report"}
    scenario = {"labels": ["llmplan-drift", "llmplan-safety"], "issues": [drift, safety]}

    # the same weakening an hour later: the drift issue is updated, the safety issue left alone
    update, comment = github_script(tmp_path, name, "drift", "Open", scenario, files, ENV="prod", DRIFT="true", WEAKENED="true")
    assert (update["call"], update["issue_number"], comment["issue_number"]) == ("update", 3, 3)

    # the weakening was undone, other drift remains: only the safety issue closes
    comment, closed = github_script(tmp_path, name, "drift", "Open", scenario, files, ENV="prod", DRIFT="true", WEAKENED="false")[-2:]
    assert (comment["call"], comment["issue_number"]) == ("createComment", 8)
    assert "Safety in `prod` is no longer weakened outside llmplan" in comment["body"]
    assert (closed["call"], closed["issue_number"], closed["state"]) == ("update", 8, "closed")

"""The github-script steps of the GitHub Actions examples, run by Node.js
against a fake GitHub (github_script_harness.js) that records the API calls:
one comment on the pull request for every environment it touches, one drift
issue and one safety issue for the whole fleet, each found again and updated
rather than duplicated."""

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


PLAN_MD = (
    "### llmplan plan · 2 environments · 1 with changes, 1 without\n\n"
    "| environment | create | update | move | forget | status |\n|---|--:|--:|--:|--:|---|\n"
    "| `prod` | 0 | 1 | 0 | 0 | changes |\n| `staging` | 0 | 0 | 0 | 0 | no changes |\n\n"
    "### llmplan · `prod` · Plan: 0 to create, 1 to update, 0 to forget.\n\n---\n\n### llmplan · `staging` · No changes.\n"
)
MARKED = "<!-- llmplan -->"


def test_the_plan_comment_is_created_once_then_updated_in_place(tmp_path: Path) -> None:
    files = {"plan.md": PLAN_MD}
    outcomes = {"VALIDATE_OUTCOME": "success", "PLAN_OUTCOME": "success"}
    (created,) = github_script(tmp_path, "plan.yml", "plan", "Comment", {"comments": []}, files, **outcomes)
    assert created["call"] == "createComment" and created["issue_number"] == 5
    assert created["body"].startswith(MARKED + "\n" + PLAN_MD), "ONE comment: every environment the pull request touches"
    assert "planned at 0123456" in created["body"], "the pull request's head, not the test merge commit"

    comments = [
        {"id": 11, "user": {"type": "User"}, "body": f"quoting {MARKED}"},  # a person's comment is never edited
        {"id": 12, "user": {"type": "Bot"}, "body": "<!-- llmplan:prod -->\na comment of the one-job-per-environment workflow"},
        {"id": 13, "user": {"type": "Bot"}, "body": f"{MARKED}\nan older plan"},
    ]
    (updated,) = github_script(tmp_path, "plan.yml", "plan", "Comment", {"comments": comments}, files, **outcomes)
    assert (updated["call"], updated["comment_id"]) == ("updateComment", 13)


def test_a_quiet_plan_adds_no_comment_but_updates_an_earlier_one(tmp_path: Path) -> None:
    files = {"plan.md": "### llmplan plan · 1 environment · 0 with changes, 1 without\n"}
    outcomes = {"VALIDATE_OUTCOME": "success", "PLAN_OUTCOME": "success", "QUIET": "true"}
    assert github_script(tmp_path, "plan.yml", "plan", "Comment", {"comments": []}, files, **outcomes) == []
    earlier = {"comments": [{"id": 12, "user": {"type": "Bot"}, "body": f"{MARKED}\nPlan: 1 to update"}]}
    (updated,) = github_script(tmp_path, "plan.yml", "plan", "Comment", earlier, files, **outcomes)
    assert updated["call"] == "updateComment" and "0 with changes, 1 without" in updated["body"]


def test_an_environment_that_failed_is_shown_failed_in_the_one_comment(tmp_path: Path) -> None:
    """plan exits 1 when an environment failed; the report still holds every environment, the error in its section."""
    report = PLAN_MD.replace("| `staging` | 0 | 0 | 0 | 0 | no changes |", "| `staging` | — | — | — | — | ❌ failed: cannot reach the gateway |")
    files = {"plan.md": report, "llmplan.log": "Error: staging: cannot reach the gateway\n"}
    (created,) = github_script(tmp_path, "plan.yml", "plan", "Comment", {"comments": []}, files, VALIDATE_OUTCOME="success", PLAN_OUTCOME="failure")
    assert created["body"].startswith(MARKED + "\n" + report)


@pytest.mark.parametrize(("validate", "failed_step"), [("success", "plan"), ("failure", "validate")])
def test_a_failed_plan_is_reported_in_the_comment_with_its_errors(tmp_path: Path, validate: str, failed_step: str) -> None:
    """When validate failed, or plan printed nothing (it could not start), the comment quotes the log."""
    log = "Error: environment prod is not valid: 1 problem\n  environments/prod/models/support-bot.yaml:9 max_tokens: 9000 is greater than the maximum of 8192\n"
    outcomes = {"VALIDATE_OUTCOME": validate, "PLAN_OUTCOME": "skipped" if validate == "failure" else "failure"}
    files = {"llmplan.log": log, "plan.md": ""}
    (created,) = github_script(tmp_path, "plan.yml", "plan", "Comment", {"comments": []}, files, **outcomes)
    assert created["call"] == "createComment"
    assert f"❌ {failed_step} failed" in created["body"]
    assert "```\n" + log.strip() + "\n```" in created["body"]


DRIFT_MD = "### llmplan drift · 3 environments · 1 drifted\n\n| environment | drifted | weakened outside | unmanaged | status |\n"


def test_drift_opens_one_labelled_issue_then_updates_it_and_closes_it_when_clean(tmp_path: Path) -> None:
    files = {"drift.md": DRIFT_MD}
    label, opened = github_script(tmp_path, "drift.yml", "drift", "Open", {"issues": []}, files, DRIFT="true")
    assert (label["call"], label["name"]) == ("createLabel", "llmplan-drift")
    assert (opened["call"], opened["title"], opened["labels"]) == ("create", "llmplan: drift", ["llmplan-drift"])
    assert opened["body"].startswith("<!-- llmplan-drift -->\n" + DRIFT_MD), "ONE issue for every environment"

    issue = {"number": 3, "state": "open", "labels": ["llmplan-drift"], "body": opened["body"]}
    older = {"number": 4, "state": "open", "labels": ["llmplan-drift"], "body": "<!-- llmplan-drift:staging -->\n…"}  # one of the per-environment workflow
    scenario = {"labels": ["llmplan-drift"], "issues": [older, issue]}
    assert github_script(tmp_path, "drift.yml", "drift", "Open", scenario, files, DRIFT="true") == [], "same report: no noise"

    changed = {"drift.md": DRIFT_MD.replace("1 drifted", "2 drifted")}
    update, comment = github_script(tmp_path, "drift.yml", "drift", "Open", scenario, changed, DRIFT="true")
    assert (update["call"], update["issue_number"]) == ("update", 3) and "2 drifted" in update["body"]
    assert (comment["call"], comment["issue_number"]) == ("createComment", 3)

    comment, closed = github_script(tmp_path, "drift.yml", "drift", "Open", scenario, {}, DRIFT="false")
    assert (comment["call"], comment["issue_number"]) == ("createComment", 3)
    assert (closed["call"], closed["issue_number"], closed["state"]) == ("update", 3, "closed")
    assert github_script(tmp_path, "drift.yml", "drift", "Open", {"issues": [older]}, {}, DRIFT="false") == []


WEAKENED_MD = "### llmplan drift · 3 environments · 1 with safety weakened outside llmplan\n\n| environment | drifted | weakened outside | unmanaged | status |\n"
SAFETY = "<!-- llmplan-safety -->"


@pytest.mark.parametrize("name", ["drift.yml", "postgres/drift.yml"])
def test_a_weakening_opens_its_own_safety_issue_that_mentions_on_call(tmp_path: Path, name: str) -> None:
    files = {"drift.md": DRIFT_MD, "weakened.md": WEAKENED_MD}
    calls = github_script(tmp_path, name, "drift", "Open", {"issues": []}, files, DRIFT="true", WEAKENED="true", PAGE="@acme/llm-oncall")
    drift_label, drift_issue, safety_label, safety_issue = calls
    assert (drift_label["name"], drift_issue["labels"]) == ("llmplan-drift", ["llmplan-drift"])
    assert "@acme" not in drift_issue["body"], "ordinary drift pages nobody"
    assert (safety_label["call"], safety_label["name"], safety_label["color"]) == ("createLabel", "llmplan-safety", "b60205")
    assert safety_issue["call"] == "create" and safety_issue["labels"] == ["llmplan-safety"]
    assert safety_issue["title"] == "llmplan: safety weakened outside llmplan"
    assert safety_issue["body"].startswith(f"{SAFETY}\n@acme/llm-oncall safety was weakened outside llmplan.\n{WEAKENED_MD}")

    # without LLMPLAN_SAFETY_PAGE the issue (and its label) is the signal: no mention
    (created,) = github_script(tmp_path, name, "drift", "Open", {"labels": ["llmplan-safety"]}, files, DRIFT="false", WEAKENED="true", PAGE="")
    assert created["call"] == "create" and created["body"].startswith(f"{SAFETY}\n{WEAKENED_MD}")


@pytest.mark.parametrize("name", ["drift.yml", "postgres/drift.yml"])
def test_the_safety_issue_is_updated_and_closed_apart_from_the_drift_issue(tmp_path: Path, name: str) -> None:
    files = {"drift.md": DRIFT_MD, "weakened.md": WEAKENED_MD}
    (opened,) = github_script(tmp_path, name, "drift", "Open", {"labels": ["llmplan-safety"]}, files, DRIFT="false", WEAKENED="true")
    safety = {"number": 8, "state": "open", "labels": ["llmplan-safety"], "body": opened["body"]}
    drift = {"number": 3, "state": "open", "labels": ["llmplan-drift"], "body": "<!-- llmplan-drift -->\nan older report"}
    scenario = {"labels": ["llmplan-drift", "llmplan-safety"], "issues": [drift, safety]}

    # the same weakening an hour later: the drift issue is updated, the safety issue left alone
    update, comment = github_script(tmp_path, name, "drift", "Open", scenario, files, DRIFT="true", WEAKENED="true")
    assert (update["call"], update["issue_number"], comment["issue_number"]) == ("update", 3, 3)

    # the weakening was undone, other drift remains: only the safety issue closes
    comment, closed = github_script(tmp_path, name, "drift", "Open", scenario, files, DRIFT="true", WEAKENED="false")[-2:]
    assert (comment["call"], comment["issue_number"]) == ("createComment", 8)
    assert "Safety is no longer weakened outside llmplan in any environment" in comment["body"]
    assert (closed["call"], closed["issue_number"], closed["state"]) == ("update", 8, "closed")

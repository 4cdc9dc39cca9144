"""A weakening needs an explicit yes: each `apply.weakening` mode through the
real CLI against the sandbox, and what the audit trail and the governance
event say about who allowed it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from planner.adapters.identity import CI_ACTORS
from tests.apply.project import ApplyProject, Run, SandboxAdmin

# bench-00001's pii filter goes from redact to flag: one weakening
PII_REDACT = "{filter_type: pii, action: redact, threshold: 80}"
PII_FLAG = "{filter_type: pii, action: flag, threshold: 80}"
WEAKENING_LINE = '  bench-00001: safety_filters[pii].action: "redact" → "flag"; flag is a weaker action for the pii filter than redact (strongest first: block > redact > flag)'
NO_CI = {variable: None for variable in CI_ACTORS}  # the local user, whatever CI runs these tests


def set_weakening(project: ApplyProject, mode: str) -> None:
    settings = project.env_dir / "environment.yaml"
    settings.write_text(settings.read_text(encoding="utf-8").replace("apply:\n", f"apply:\n  weakening: {mode}\n"), encoding="utf-8")


@pytest.fixture
def weakened(project: ApplyProject) -> dict[str, str]:
    """Two models applied; then bench-00001's pii action weakened and bench-00002's max_tokens changed in YAML."""
    models = project.add_generated(2)
    project.apply()
    project.edit_model("bench-00001", PII_REDACT, PII_FLAG)
    project.edit_model("bench-00002", "max_tokens: 1024", "max_tokens: 2048")
    return models


def updates(project: ApplyProject, status: str) -> dict[str, dict[str, Any]]:
    """address → the configuration_update audit entry with this status."""
    return {entry["address"]: entry for entry in project.audit() if entry["action"] == "configuration_update" and entry["status"] == status}


def assert_nothing_sent(admin: SandboxAdmin, project: ApplyProject, serial: int) -> None:
    assert admin.puts() == []
    assert project.state_document()["serial"] == serial  # type: ignore[index]


# --- refuse -------------------------------------------------------------------


def test_refuse_exits_1_naming_each_weakening_and_sends_nothing(project: ApplyProject, admin: SandboxAdmin, weakened: dict[str, str]) -> None:
    set_weakening(project, "refuse")
    admin.clear_requests()

    refused = project.run("apply", "--env", "dev", "--auto-approve")

    assert refused.code == 1, str(refused)
    assert refused.stderr == (
        "Error: this plan weakens safety, and environment dev refuses weakenings (apply.weakening: refuse):\n"
        f"{WEAKENING_LINE}\n"
        "Hint: review each weakening; to apply them anyway, re-run with --allow-weakening (recorded in the audit trail with who allowed it)\n"
    )
    assert "Safety: this plan weakens 1 setting of 1 model:" in refused.stdout  # the plan was shown first
    assert_nothing_sent(admin, project, serial=1)


def test_refuse_with_allow_weakening_applies_and_records_the_ci_actor(project: ApplyProject, admin: SandboxAdmin, weakened: dict[str, str]) -> None:
    set_weakening(project, "refuse")

    done = project.run("apply", "--env", "dev", "--auto-approve", "--allow-weakening", env={**NO_CI, "GITHUB_ACTOR": "octocat"})

    assert done.code == 0, str(done)
    assert "Apply complete: 2 succeeded, 0 failed, 0 not attempted." in done.stdout
    weak = updates(project, "success")["bench-00001"]["safety"]
    assert (weak["classification"], weak["allowed_by"], weak["allowed_via"]) == ("weakens", "octocat (GITHUB_ACTOR)", "--allow-weakening")
    assert [(r["path"], r["effect"], r["before"], r["after"]) for r in weak["reasons"]] == [("safety_filters[pii].action", "weakens", "redact", "flag")]
    assert updates(project, "pending")["bench-00001"]["safety"] == weak  # the intent says it too
    # the other change is behaviour: classified, nobody had to allow it
    other = updates(project, "success")["bench-00002"]["safety"]
    assert other["classification"] == "behaviour" and "allowed_by" not in other
    # the governance event carries the audit entry, classification and approver included
    events = [json.loads(delivery["raw"]) for delivery in admin.deliveries()]
    (event,) = [event for event in events if event["audit_log"]["address"] == "bench-00001" and event["audit_log"]["version"] == 2]
    assert event["audit_log"]["safety"] == weak
    assert project.run("audit", "verify", "--env", "dev").code == 0


def test_refuse_lets_a_plan_without_weakenings_through(project: ApplyProject, admin: SandboxAdmin) -> None:
    project.add_generated(1)
    project.apply()
    set_weakening(project, "refuse")
    project.edit_model("bench-00001", PII_REDACT, "{filter_type: pii, action: block, threshold: 80}")  # strengthens

    done = project.run("apply", "--env", "dev", "--auto-approve")

    assert done.code == 0, str(done)
    assert updates(project, "success")["bench-00001"]["safety"]["classification"] == "strengthens"


def test_a_saved_plan_that_weakens_is_refused_too(project: ApplyProject, admin: SandboxAdmin, weakened: dict[str, str], tmp_path: Path) -> None:
    set_weakening(project, "refuse")
    plan_file = tmp_path / "plan.json"
    assert project.run("plan", "--env", "dev", "--out", str(plan_file)).code == 0
    admin.clear_requests()

    refused = project.run("apply", str(plan_file))
    assert refused.code == 1 and WEAKENING_LINE in refused.stderr, str(refused)
    assert_nothing_sent(admin, project, serial=1)

    done = project.run("apply", str(plan_file), "--allow-weakening", env={**NO_CI, "BUILDKITE_BUILD_CREATOR": "Release Bot"})
    assert done.code == 0, str(done)
    assert updates(project, "success")["bench-00001"]["safety"]["allowed_by"] == "Release Bot (BUILDKITE_BUILD_CREATOR)"


# --- confirm ------------------------------------------------------------------


def apply_on_terminal(project: ApplyProject, *, weakenings_answer: str) -> Run:
    """apply on a pseudo-terminal: 'yes' to the plan, then ``weakenings_answer`` to the second question."""
    child = project.start("apply", "--env", "dev", env=NO_CI, terminal=True)
    child.wait_for_output("Do you want to apply these changes to environment dev?")
    child.type("yes")
    child.wait_for_output("Do you want to apply the weakenings too?")
    child.type(weakenings_answer)
    return child.finish()


def test_confirm_asks_for_the_weakenings_separately_and_no_cancels(project: ApplyProject, admin: SandboxAdmin, weakened: dict[str, str]) -> None:
    set_weakening(project, "confirm")
    admin.clear_requests()
    done = apply_on_terminal(project, weakenings_answer="no")

    assert done.code == 1, str(done)
    assert f"These changes weaken safety:\n{WEAKENING_LINE}\nDo you want to apply the weakenings too?" in done.stdout.replace("\r\n", "\n")
    assert "apply cancelled: the weakenings were not confirmed; nothing was changed" in done.stderr
    assert_nothing_sent(admin, project, serial=1)


def test_confirm_yes_to_the_weakenings_applies_and_records_the_local_user(project: ApplyProject, admin: SandboxAdmin, weakened: dict[str, str]) -> None:
    set_weakening(project, "confirm")
    done = apply_on_terminal(project, weakenings_answer="yes")

    assert done.code == 0, str(done)
    weak = updates(project, "success")["bench-00001"]["safety"]
    assert weak["allowed_via"] == "confirmed at the terminal"
    assert weak["allowed_by"].endswith(" (local user)") and "@" in weak["allowed_by"]


def test_confirm_without_a_terminal_needs_allow_weakening(project: ApplyProject, admin: SandboxAdmin, weakened: dict[str, str]) -> None:
    set_weakening(project, "confirm")
    admin.clear_requests()

    refused = project.subprocess("apply", "--env", "dev", "--auto-approve")  # --auto-approve is a yes to the plan, not to its weakenings

    assert refused.code == 1, str(refused)
    assert f"Error: this plan weakens safety and apply.weakening is confirm, but there is no terminal to ask:\n{WEAKENING_LINE}\n" in refused.stderr
    assert "Hint: review each weakening and re-run with --allow-weakening" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert_nothing_sent(admin, project, serial=1)

    done = project.subprocess("apply", "--env", "dev", "--auto-approve", "--allow-weakening", env={**NO_CI, "GITLAB_USER_LOGIN": "alice"})
    assert done.code == 0, str(done)
    assert updates(project, "success")["bench-00001"]["safety"]["allowed_by"] == "alice (GITLAB_USER_LOGIN)"


def test_confirm_is_the_default(project: ApplyProject, admin: SandboxAdmin, weakened: dict[str, str]) -> None:
    assert "weakening" not in (project.env_dir / "environment.yaml").read_text(encoding="utf-8")
    refused = project.run("apply", "--env", "dev", "--auto-approve")
    assert refused.code == 1 and "apply.weakening is confirm, but there is no terminal to ask" in refused.stderr, str(refused)


# --- allow --------------------------------------------------------------------


def test_allow_applies_without_a_question_and_says_so_in_the_audit(project: ApplyProject, admin: SandboxAdmin, weakened: dict[str, str]) -> None:
    set_weakening(project, "allow")

    done = project.run("apply", "--env", "dev", "--auto-approve", env={**NO_CI, "CIRCLE_USERNAME": "bob"})

    assert done.code == 0, str(done)
    assert "Plan: 0 to create, 2 to update, 0 to forget. 1 change weakens safety." in done.stdout
    weak = updates(project, "success")["bench-00001"]["safety"]
    assert (weak["allowed_by"], weak["allowed_via"]) == ("bob (CIRCLE_USERNAME)", "apply.weakening: allow")

"""Asking before changing production: only 'yes' on a terminal applies; no
terminal and no --auto-approve refuses; a plan over max_change_percent
needs --force."""

from __future__ import annotations

import pytest

from tests.apply.project import ApplyProject, SandboxAdmin


def test_no_terminal_and_no_auto_approve_refuses_and_changes_nothing(project: ApplyProject, admin: SandboxAdmin) -> None:
    models = project.add_generated(2)
    done = project.subprocess("apply", "--env", "dev")  # stdin is /dev/null: not a terminal
    assert done.code == 1, str(done)
    assert "Error: apply needs confirmation but there is no terminal" in done.stderr
    assert "--auto-approve" in done.stderr
    assert "Traceback" not in done.stderr
    assert admin.puts() == []
    assert admin.live_versions(list(models.values())) == {model_id: None for model_id in models.values()}
    assert project.state_document() is None


def run_on_terminal(project: ApplyProject, answer: str) -> tuple[int, str, str]:
    """apply with a pseudo-terminal as stdin, typing ``answer`` at the prompt."""
    child = project.start("apply", "--env", "dev", terminal=True)
    child.wait_for_output("Only 'yes' will be accepted")
    child.type(answer)
    done = child.finish()
    return done.code, done.stdout, done.stderr


@pytest.mark.parametrize("answer", ["no", "y", "YES please", ""])
def test_anything_but_yes_on_a_terminal_cancels(project: ApplyProject, admin: SandboxAdmin, answer: str) -> None:
    project.add_generated(2)
    code, stdout, stderr = run_on_terminal(project, answer)
    assert code == 1, stdout + stderr
    assert "Only 'yes' will be accepted" in stdout
    assert "apply cancelled; nothing was changed" in stderr
    assert admin.puts() == []
    assert project.state_document() is None


def test_yes_on_a_terminal_applies(project: ApplyProject, admin: SandboxAdmin) -> None:
    project.add_generated(2)
    code, stdout, stderr = run_on_terminal(project, "yes")
    assert code == 0, stdout + stderr
    assert "Apply complete: 2 succeeded, 0 failed, 0 not attempted." in stdout
    assert len(admin.puts(status=200)) == 2


def test_over_max_change_percent_is_refused_with_the_numbers_and_force_applies(project: ApplyProject, admin: SandboxAdmin) -> None:
    project.write_environment(max_change_percent=20)
    project.add_generated(5)
    assert project.run("apply", "--env", "dev", "--auto-approve", "--force").code == 0
    for index in (1, 2, 3):
        project.edit_model(f"bench-0000{index}", "max_tokens: 1024", "max_tokens: 2048")
    admin.clear_requests()

    refused = project.run("apply", "--env", "dev", "--auto-approve")

    assert refused.code == 1, str(refused)
    assert "3 of 5 models would change (60 %), over the 20 % limit of this environment; review the plan and re-run with --force" in refused.stderr
    assert admin.puts() == []

    forced = project.run("apply", "--env", "dev", "--auto-approve", "--force")
    assert forced.code == 0, str(forced)
    assert "Apply complete: 3 succeeded, 0 failed, 0 not attempted." in forced.stdout
    assert len(admin.puts(status=200)) == 3


def test_a_saved_plan_over_the_limit_needs_force_too(project: ApplyProject, admin: SandboxAdmin, tmp_path) -> None:
    project.write_environment(max_change_percent=20)
    project.add_generated(2)
    plan_file = tmp_path / "plan.json"
    assert project.run("plan", "--env", "dev", "--out", str(plan_file)).code == 0
    refused = project.run("apply", str(plan_file))
    assert refused.code == 1 and "2 of 2 models would change (100 %), over the 20 % limit" in refused.stderr, str(refused)
    assert admin.puts() == []
    forced = project.run("apply", str(plan_file), "--force")
    assert forced.code == 0, str(forced)
    assert len(admin.puts(status=200)) == 2

"""Two checkouts (two --root folders) share one PostgreSQL database: one state, one lock, one audit trail."""

from __future__ import annotations

import json
import signal
import socket
from collections import Counter
from typing import Any, Callable

from planner.model.catalog import generated_model_id
from tests.apply.crash_checks import slower_after
from tests.apply.project import SandboxAdmin
from tests.postgres.pg_project import PgProject

# An interactive apply holds the lock at its prompt until the test answers: a
# holder that holds as long as the test needs, however slow the machine.
PROMPT = "Only 'yes' will be accepted"


def test_an_apply_records_everything_in_the_database_and_nothing_under_state(first: PgProject, second: PgProject) -> None:
    done = first.apply()
    assert "Apply complete: 6 succeeded" in done.stdout
    # nothing of the environment's records on disk: only this machine's Prometheus textfile
    assert sorted(path.name for path in first.state_dir.iterdir()) == ["metrics.prom"]
    view = second.state_view()
    assert view["state"]["serial"] == 1 and len(view["state"]["resources"]) == 6
    assert "PostgreSQL" in view["lock"]["where"] if view["lock"] else True
    assert second.run("plan", "--env", "dev", "--detailed-exitcode").code == 0  # the other checkout sees it applied
    entries = second.audit()
    assert Counter(entry["status"] for entry in entries if entry["action"] == "configuration_update") == {"pending": 6, "success": 6}
    assert [entry["serial"] for entry in second.audit(commits=True) if entry["action"] == "state_commit"] == [1]  # the state's voucher
    for project in (first, second):
        verified = project.run("audit", "verify", "--env", "dev")
        assert verified.code == 0 and "13 entries, chain intact" in verified.stdout, str(verified)


def test_a_change_applied_from_one_checkout_is_the_state_of_the_other(first: PgProject, second: PgProject) -> None:
    first.apply()
    second.edit_model("bench-00002", "max_tokens: 1024", "max_tokens: 2000")
    plan = second.run("plan", "--env", "dev", "--out", str(second.root / "plan.json"))
    assert "1 to update" in plan.stdout, str(plan)
    assert second.run("apply", str(second.root / "plan.json"), "--auto-approve").code == 0
    assert first.state_view()["state"]["serial"] == 2
    again = first.run("apply", str(second.root / "plan.json"), "--auto-approve")
    assert again.code == 1 and "this plan was already applied" in again.stderr  # the shared trail knows it, whichever checkout asks


def test_exactly_one_apply_runs_at_a_time_and_the_refusal_names_the_holder(first: PgProject, second: PgProject, gateway: SandboxAdmin) -> None:
    first.apply()
    for project in (first, second):
        project.edit_model("bench-00003", "max_tokens: 1024", "max_tokens: 3000")
    running = first.start("apply", "--env", "dev", env={"GITHUB_RUN_ID": "4242", "GITHUB_REPOSITORY": "acme/llm-config"}, terminal=True)
    running.wait_for_output(PROMPT)
    refused = second.run("apply", "--env", "dev", "--auto-approve")
    assert refused.code == 1, str(refused)
    assert "is locked by apply (id " in refused.stderr and f"@{socket.gethostname()}" in refused.stderr
    assert "CI run https://github.com/acme/llm-config/actions/runs/4242" in refused.stderr
    lock_id = refused.stderr.split("(id ", 1)[1].split(",", 1)[0]
    blocked = second.run("force-unlock", "--env", "dev", lock_id)
    assert blocked.code == 1 and "live database session" in blocked.stderr
    running.type("yes")
    assert running.finish().code == 0
    assert second.run("apply", "--env", "dev", "--auto-approve").code == 0  # free again: nothing to do
    assert second.state_view()["lock"] is None


def test_lock_timeout_waits_for_the_other_checkout(first: PgProject, second: PgProject, gateway: SandboxAdmin) -> None:
    first.apply()
    first.edit_model("bench-00004", "max_tokens: 1024", "max_tokens: 4000")
    running = first.start("apply", "--env", "dev", terminal=True)
    running.wait_for_output(PROMPT)
    waiting = second.start("refresh", "--env", "dev", "--lock-timeout", "60")
    waiting.wait_for_stderr("s for the lock of environment dev")  # it waits, and says so
    running.type("yes")
    waited = waiting.finish()
    assert waited.code == 0, str(waited)
    assert running.finish().code == 0


def test_an_apply_killed_in_one_checkout_is_finished_from_the_other(first: PgProject, second: PgProject, gateway: SandboxAdmin) -> None:
    first.apply()
    for project in (first, second):
        for index in range(1, 7):
            project.edit_model(f"bench-{index:05d}", "max_tokens: 1024", "max_tokens: 1500")
    slower_after(gateway, 5, latency_ms=150, then_ms=600_000)  # the last answer never comes: the kill finds it running
    running = first.start("apply", "--env", "dev", "--auto-approve", "--parallelism", "1")
    running.wait_for_progress(2)
    running.kill(signal.SIGKILL)
    gateway.clear_faults()
    finished = second.run("apply", "--env", "dev", "--auto-approve", "--lock-timeout", "30")
    assert finished.code == 0, str(finished)
    assert second.run("plan", "--env", "dev", "--detailed-exitcode").code == 0
    assert first.run("plan", "--env", "dev", "--detailed-exitcode").code == 0
    landed = Counter(gateway.model_of(put) for put in gateway.puts(status=200))
    successes = Counter(entry["model_id"] for entry in second.audit() if entry["status"] == "success" and entry["action"] == "configuration_update")
    assert successes == landed  # every landed PUT recorded once, whichever checkout recorded it
    for project in (first, second):
        assert project.run("audit", "verify", "--env", "dev").code == 0


def test_a_database_written_by_a_newer_llmplan_is_refused(first: PgProject, pg_admin: Callable[..., Any]) -> None:
    first.apply()
    pg_admin("INSERT INTO {s}.schema_version (version, tool_version) VALUES (99, '9.0.0')")
    refused = first.run("plan", "--env", "dev")
    assert refused.code == 1
    assert "written by a newer llmplan (schema version 99, by llmplan 9.0.0)" in refused.stderr


def test_every_command_works_on_the_shared_records(first: PgProject, second: PgProject, gateway: SandboxAdmin) -> None:
    first.apply()
    gateway.patch(generated_model_id(5), max_tokens=777)
    assert second.run("drift", "--env", "dev").code == 2
    refreshed = second.run("refresh", "--env", "dev")
    assert refreshed.code == 0 and "recorded bench-00005" in refreshed.stdout
    shown = first.run("audit", "show", "--env", "dev", "--model-id", generated_model_id(5))
    assert "state_refresh" in shown.stdout
    assert first.state_view()["state"]["resources"]["bench-00005"]["configuration"]["max_tokens"] == 777


def test_the_password_never_appears_in_output_logs_or_files(first: PgProject, second: PgProject, postgres: Any, gateway: SandboxAdmin) -> None:
    from tests.pg_server import PASSWORD

    outputs = [first.run("apply", "--env", "dev", "--auto-approve", "--debug")]
    first.edit_model("bench-00001", "max_tokens: 1024", "max_tokens: 1100")
    for args in (("plan", "--env", "dev", "--debug"), ("apply", "--env", "dev", "--auto-approve"), ("state", "show", "--env", "dev"),
                 ("audit", "verify", "--env", "dev"), ("audit", "show", "--env", "dev", "--format", "json"), ("drift", "--env", "dev", "--format", "json")):
        outputs.append(second.run(*args))
    for run in outputs:
        assert PASSWORD not in run.stdout + run.stderr, run
    for project in (first, second):
        for path in project.root.rglob("*"):
            if path.is_file():
                assert PASSWORD.encode() not in path.read_bytes(), path
    assert all(PASSWORD not in str(entry) for entry in gateway.deliveries())


def test_a_state_edited_in_the_database_is_refused_even_with_its_checksum_recomputed(first: PgProject, pg_admin: Callable[..., Any]) -> None:
    from planner.model.state import ResourceState, State

    first.apply()
    (text,) = pg_admin("SELECT resource FROM {s}.resources WHERE address = 'bench-00001'")[0]
    edited = text.replace('"max_tokens":1024', '"max_tokens":999')
    pg_admin("UPDATE {s}.resources SET resource = %s WHERE address = 'bench-00001'", edited)
    stale = first.run("plan", "--env", "dev")
    assert stale.code == 1 and "was edited outside llmplan: its checksum does not match" in stale.stderr, str(stale)
    lineage, serial, head = pg_admin("SELECT lineage, serial, audit_head FROM {s}.states")[0]
    rows = [ResourceState.from_dict(json.loads(row[0])) for row in pg_admin("SELECT resource FROM {s}.resources ORDER BY address")]
    from planner.model.state import AuditHead

    forged = State(lineage, serial, {r.address: r for r in rows}, audit_head=AuditHead.from_dict(json.loads(head)))
    pg_admin("UPDATE {s}.states SET checksum = %s", forged.checksum())  # the checksum anyone can recompute
    for args in (("plan", "--env", "dev"), ("apply", "--env", "dev", "--auto-approve"), ("audit", "verify", "--env", "dev")):
        done = first.run(*args)
        assert done.code == 1 and "does not match the audit entry that vouches for it" in done.stderr, str(done)

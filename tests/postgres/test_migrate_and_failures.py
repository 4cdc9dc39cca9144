"""Moving an environment between backends, and what happens when the database is missing, down or restarting."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any, Callable

from tests.apply.crash_checks import slower_after
from tests.apply.project import SandboxAdmin
from tests.pg_server import PASSWORD, free_port
from tests.postgres.pg_project import PgProject


def test_state_migrate_moves_state_trail_and_outbox_to_postgres_and_back(first: PgProject, gateway: SandboxAdmin, pg_admin: Callable[..., Any]) -> None:
    first.write_environment(backend="local")
    first.apply()
    local_state = json.loads((first.state_dir / "state.json").read_text())
    local_lines = (first.state_dir / "audit.jsonl").read_text().splitlines()
    first.write_environment(backend="postgres")

    moved = first.run("state", "migrate", "--env", "dev")
    assert moved.code == 0, str(moved)
    assert "Migrated from local files" in moved.stdout and f"{len(local_lines)} entries copied" in moved.stdout
    view = first.state_view()["state"]
    assert (view["lineage"], view["serial"]) == (local_state["lineage"], local_state["serial"])
    assert view["resources"] == local_state["resources"]
    assert [json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False) for entry in first.audit(commits=True)] == local_lines
    assert first.run("audit", "verify", "--env", "dev").code == 0
    assert first.run("plan", "--env", "dev", "--detailed-exitcode").code == 0

    again = first.run("state", "migrate", "--env", "dev")
    assert again.code == 0 and again.stdout.startswith("Nothing to migrate"), str(again)

    first.edit_model("bench-00001", "max_tokens: 1024", "max_tokens: 1111")
    first.apply()  # recorded in PostgreSQL only
    first.write_environment(backend="local")
    back = first.run("state", "migrate", "--env", "dev", "--from", "postgres")
    # the local trail was a prefix: only the rest is copied (the update's pending and success, and its state commit)
    assert back.code == 0 and "3 entries copied" in back.stdout, str(back)
    assert json.loads((first.state_dir / "state.json").read_text())["serial"] == local_state["serial"] + 1
    assert first.run("audit", "verify", "--env", "dev").code == 0
    assert first.run("plan", "--env", "dev", "--detailed-exitcode").code == 0


def test_state_migrate_refuses_a_target_holding_another_lineage_and_names_the_way_out(first: PgProject, second: PgProject, pg_admin: Any) -> None:
    second.apply()  # the database holds one lineage already (a fresh start, made before migrating)
    fresh = second.state_view()["state"]["lineage"]
    first.write_environment(backend="local")
    first.apply()  # this checkout's local files hold the real history
    kept = json.loads((first.state_dir / "state.json").read_text())["lineage"]
    first.write_environment(backend="postgres")
    refused = first.run("state", "migrate", "--env", "dev")
    assert refused.code == 1
    assert "already holds a state of environment dev with another lineage" in refused.stderr
    assert f"`llmplan state migrate --env dev --discard-target {fresh}` keeps a copy of it aside, removes it, and migrates" in refused.stderr
    assert second.state_view()["state"]["serial"] == 1  # untouched

    wrong = first.run("state", "migrate", "--env", "dev", "--discard-target", kept)  # only the lineage the refusal named
    assert wrong.code == 1 and "another lineage" in wrong.stderr
    done = first.run("state", "migrate", "--env", "dev", "--discard-target", fresh)
    assert done.code == 0, str(done)
    assert "  the target's records of another lineage were set aside in " in done.stdout, str(done)
    assert second.state_view()["state"]["lineage"] == kept
    assert pg_admin("SELECT count(*) FROM {s}.states WHERE environment LIKE %s", f"dev@discarded-{fresh}-%") == [(1,)]  # kept, not deleted
    assert first.run("audit", "verify", "--env", "dev").code == 0


def test_state_migrate_to_the_backend_already_in_use_is_refused_clearly(first: PgProject) -> None:
    refused = first.run("state", "migrate", "--env", "dev", "--from", "postgres")
    assert refused.code == 1 and "already keeps its records in the postgres backend" in refused.stderr


def test_a_missing_connection_string_names_the_variable(first: PgProject) -> None:
    done = first.run("plan", "--env", "dev", env={"LLMPLAN_PG_DSN": None})
    assert done.code == 1
    assert "the environment variable LLMPLAN_PG_DSN holding the connection string is not set" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_database_fails_fast_naming_host_and_port_never_the_password(first: PgProject) -> None:
    port = free_port()
    dsn = f"postgresql://llmplan:{PASSWORD}@127.0.0.1:{port}/llmplan"
    started = time.monotonic()
    done = first.subprocess("apply", "--env", "dev", "--auto-approve", env={"LLMPLAN_PG_DSN": dsn})
    assert done.code == 1, str(done)
    assert time.monotonic() - started < 20
    assert f"PostgreSQL llmplan@127.0.0.1:{port}/llmplan" in done.stderr and "cannot be reached" in done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_a_database_restart_mid_apply_stops_it_cleanly_and_the_next_apply_converges(first: PgProject, gateway: SandboxAdmin, postgres: Any) -> None:
    first.apply()
    for index in range(1, 7):
        first.edit_model(f"bench-{index:05d}", "max_tokens: 1024", "max_tokens: 1800")
    # answers after the third take 3 s: the restart lands mid-apply however slow the machine is
    slower_after(gateway, 3, latency_ms=200, then_ms=3000)
    running = first.start("apply", "--env", "dev", "--auto-approve", "--parallelism", "1")
    running.wait_for_progress(2)
    postgres.restart()
    stopped = running.finish()
    assert stopped.code == 1, str(stopped)
    assert "cannot be reached" in stopped.stderr and "Traceback" not in stopped.stderr
    assert "error ignored" not in stopped.stderr  # the driver's own warnings do not reach the user
    assert PASSWORD not in stopped.stdout + stopped.stderr
    gateway.clear_faults()
    again = first.run("apply", "--env", "dev", "--auto-approve")
    assert again.code == 0, str(again)
    assert first.run("plan", "--env", "dev", "--detailed-exitcode").code == 0
    landed = Counter(gateway.model_of(put) for put in gateway.puts(status=200))
    entries = first.audit()
    successes = Counter(e["model_id"] for e in entries if e["status"] == "success" and e["action"] == "configuration_update")
    assert successes == landed  # nothing recorded twice, nothing landed unrecorded
    assert first.run("audit", "verify", "--env", "dev").code == 0


def test_a_backend_switched_without_migrate_is_refused_before_any_request(first: PgProject, gateway: SandboxAdmin) -> None:
    first.write_environment(backend="local")
    first.apply()  # the records are in state/dev/
    first.edit_model("bench-00001", "max_tokens: 1024", "max_tokens: 1111")
    first.write_environment(backend="postgres")  # switched, not migrated
    requests_before = len(gateway.requests())
    for args in (("plan", "--env", "dev"), ("apply", "--env", "dev", "--auto-approve"), ("drift", "--env", "dev")):
        refused = first.run(*args)
        assert refused.code == 1, str(refused)
        assert "environment.yaml of dev keeps its records in PostgreSQL" in refused.stderr and "which holds nothing for it, while local files" in refused.stderr, str(refused)
        assert "Hint: move them first: `llmplan state migrate --env dev` (state.backend was switched without it); nothing was sent" in refused.stderr
    assert len(gateway.requests()) == requests_before  # refused before any request
    assert first.run("state", "migrate", "--env", "dev").code == 0
    assert first.run("apply", "--env", "dev", "--auto-approve").code == 0
    assert first.run("audit", "verify", "--env", "dev").code == 0

"""A lock lost mid-apply: the apply that lost it stops sending at once and exits 1 naming it,
the next holder finishes the job, and every landing is recorded once, announced under one event id.

The lock's database session is ended as an administrator (or ``idle_session_timeout``,
a failover) would end it: ``pg_terminate_backend``. The second apply starts at once.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from tests.apply.project import WEBHOOK_SECRET, SandboxAdmin
from tests.postgres.pg_project import PgProject

MODELS = 40


def checkouts(tmp_path: Path, sandbox: Any, postgres: Any, schema: str) -> tuple[PgProject, PgProject]:
    made = []
    for name in ("runner-a", "runner-b"):
        project = PgProject(tmp_path / name, sandbox.url, dsn=postgres.dsn, schema=schema, webhook_url=f"{sandbox.url}/__sandbox/webhook")
        project.add_generated(MODELS)
        made.append(project)
    return made[0], made[1]


def test_an_apply_whose_lock_session_ends_stops_and_the_next_one_records_each_landing_once(
    tmp_path: Path, make_sandbox: Callable[..., Any], postgres: Any, schema: str, pg_admin: Callable[..., Any]
) -> None:
    sandbox = make_sandbox(rate_limit=30_000, extra_models=MODELS, webhook_secret=WEBHOOK_SECRET, latency_ms=150)
    gateway = SandboxAdmin(sandbox.url)
    first, second = checkouts(tmp_path, sandbox, postgres, schema)

    running = first.start("apply", "--env", "dev", "--auto-approve")
    running.wait_for_progress(8)
    (ended,) = pg_admin("SELECT pg_terminate_backend(backend_pid) FROM {s}.locks WHERE environment = 'dev'")
    assert ended == (True,)
    finished = second.run("apply", "--env", "dev", "--auto-approve", "--lock-timeout", "30")
    lost = running.finish()

    assert lost.code == 1, str(lost)
    # whichever came first: its watchdog saw the session end, or its next write met the new holder's token
    assert re.search(r"Error: the (database session holding the lock of environment dev ended|lock of environment dev was taken over by (apply \(id |another holder))", lost.stderr), str(lost)
    assert "Traceback" not in lost.stderr
    assert lost.stdout.count("applied") < MODELS  # it stopped sending, and said so
    assert finished.code == 0, str(finished)

    landed = Counter(gateway.model_of(put) for put in gateway.puts(status=200))
    assert sum(landed.values()) == MODELS and set(landed.values()) == {1}  # the version guard let no model land twice
    entries = second.audit()
    successes = [entry for entry in entries if entry["action"] == "configuration_update" and entry["status"] == "success"]
    assert Counter(entry["model_id"] for entry in successes) == landed  # each landing recorded exactly once
    events = [SandboxAdmin.verified_event(delivery) for delivery in gateway.deliveries()]
    announced = {event["event_id"] for event in events if event["audit_log"]["status"] == "success"}
    assert announced == {entry["audit_id"] for entry in successes}  # one event id per landing, every one delivered
    assert Counter(event["audit_log"]["model_id"] for event in {event["event_id"]: event for event in events}.values()) == landed

    for project in (first, second):
        assert project.run("audit", "verify", "--env", "dev").code == 0
        assert project.run("plan", "--env", "dev", "--detailed-exitcode").code == 0

"""Lock-loss trials: an apply whose lock is lost at a random instant, and a second apply started at once.

Run from the repository root (about 3 minutes):

    .venv/bin/python -m benchmarks.lock_loss_trials [--trials 20]

Each trial applies 40 models (parallelism 4, the sandbox answering every
request 150 ms late, the governance webhook its receiver, events signed)
and, after a random number of outcomes (1 to 30), takes the lock away from
it, then starts a second apply of the same environment at once:

- **PostgreSQL** (``--trials``, default 20): the lock's database session is
  ended as an administrator (or ``idle_session_timeout``, a failover)
  would: ``pg_terminate_backend``. The server is a real PostgreSQL started
  for the run (tests/pg_server.py), each trial in a schema of its own.
- **Local files** (the same number): ``state/dev/.lock`` is removed.

Then, for each trial: each change the gateway applied (its request log) has
exactly one ``success`` entry in the trail (0 doubled records) and one
event id among the deliveries (0 doubled ids); the first apply exits 1
naming the lost lock, the second exits 0; the trail verifies; a plan finds
nothing left to do. Goal: every trial, both backends.

Results go to ``benchmarks/results/lock_loss_trials.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any, Callable

import psycopg

from benchmarks._common import ApplyProject, finish, sandbox_process
from tests.apply.project import WEBHOOK_SECRET, SandboxAdmin
from tests.pg_server import PostgresServer, running_postgres
from tests.postgres.pg_project import PgProject

NAME = "lock_loss_trials"
MODELS = 40
LATENCY_MS = 150
LOST = re.compile(r"Error: (the database session holding the lock of environment dev ended|the lock of environment dev was taken over|\S+\.lock was removed or replaced)")


def trial(project: ApplyProject, admin: SandboxAdmin, lose_lock: Callable[[], None], after: int) -> dict[str, Any]:
    """One trial on a fresh project and a sandbox with no configurations yet."""
    first = project.start("apply", "--env", "dev", "--auto-approve")
    first.wait_for_progress(after, timeout=120)
    began = time.monotonic()
    lose_lock()
    second = project.run("apply", "--env", "dev", "--auto-approve", "--lock-timeout", "60")
    lost = first.finish(timeout=120)
    landed = Counter(admin.model_of(put) for put in admin.puts(status=200))
    entries = project.audit()
    successes = [entry for entry in entries if entry["action"] == "configuration_update" and entry["status"] == "success"]
    recorded = Counter(entry["model_id"] for entry in successes)
    events = [SandboxAdmin.verified_event(delivery) for delivery in admin.deliveries()]
    ids = {event["event_id"]: event["audit_log"]["model_id"] for event in events if event["audit_log"]["status"] == "success"}
    doubled_records = sum(count - 1 for count in recorded.values() if count > 1)
    doubled_ids = sum(count - 1 for count in Counter(ids.values()).values() if count > 1)
    verified = project.run("audit", "verify", "--env", "dev").code == 0
    converged = project.run("plan", "--env", "dev", "--detailed-exitcode").code == 0
    said = bool(LOST.search(lost.stderr))
    ok = (
        lost.code == 1 and said and second.code == 0 and recorded == landed and sum(landed.values()) == MODELS
        and set(ids) == {entry["audit_id"] for entry in successes} and doubled_ids == 0 and verified and converged
    )
    return {
        "lost_after_outcomes": after,
        "first_exit": lost.code,
        "said_lock_lost": said,
        "second_exit": second.code,
        "second_seconds_after_loss": round(time.monotonic() - began, 2),
        "landed": sum(landed.values()),
        "success_entries": len(successes),
        "doubled_records": doubled_records,
        "doubled_event_ids": doubled_ids,
        "trail_verifies": verified,
        "converged": converged,
        "ok": ok,
        "first_error": next((line for line in lost.stderr.splitlines() if line.startswith("Error: ")), "")[:300],
    }


def end_the_session(server: PostgresServer, schema: str) -> None:
    """What an administrator (or idle_session_timeout, a failover) does to the lock's session."""
    with psycopg.connect(server.dsn, autocommit=True) as connection:
        connection.execute(f"SELECT pg_terminate_backend(backend_pid) FROM {schema}.locks WHERE environment = 'dev'")


def postgres_trials(workdir: Path, count: int, rng: random.Random, server: PostgresServer) -> list[dict[str, Any]]:
    rows = []
    for number in range(count):
        schema = f"trial_{number}"
        with sandbox_process("--no-catalog", "--models", str(MODELS), "--latency-ms", str(LATENCY_MS), "--rate-limit", "100000000",
                             environ={"LLMPLAN_SANDBOX_WEBHOOK_SECRET": WEBHOOK_SECRET}) as sandbox:
            project = PgProject(workdir / f"pg-{number}", sandbox.url, dsn=server.dsn, schema=schema, webhook_url=f"{sandbox.url}/__sandbox/webhook")
            project.add_generated(MODELS)

            rows.append({"backend": "postgres", **trial(project, sandbox.admin, partial(end_the_session, server, schema), rng.randint(1, 30))})
        print(f"  postgres trial {number + 1}: {'ok' if rows[-1]['ok'] else 'MISS ' + json.dumps(rows[-1])}", flush=True)
    return rows


def local_trials(workdir: Path, count: int, rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for number in range(count):
        with sandbox_process("--no-catalog", "--models", str(MODELS), "--latency-ms", str(LATENCY_MS), "--rate-limit", "100000000",
                             environ={"LLMPLAN_SANDBOX_WEBHOOK_SECRET": WEBHOOK_SECRET}) as sandbox:
            project = ApplyProject(workdir / f"local-{number}", sandbox.url, webhook_url=f"{sandbox.url}/__sandbox/webhook")
            project.add_generated(MODELS)
            lock_file = project.state_dir / ".lock"
            rows.append({"backend": "local", **trial(project, sandbox.admin, lock_file.unlink, rng.randint(1, 30))})
        print(f"  local trial {number + 1}: {'ok' if rows[-1]['ok'] else 'MISS ' + json.dumps(rows[-1])}", flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--trials", type=int, default=20, help="trials per backend (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random instants")
    options = parser.parse_args()
    rng = random.Random(options.seed)
    with tempfile.TemporaryDirectory(prefix="llmplan-lock-loss-") as directory, running_postgres() as server:
        workdir = Path(directory)
        rows = postgres_trials(workdir, options.trials, rng, server) + local_trials(workdir, options.trials, rng)
    failed = [row for row in rows if not row["ok"]]
    doubled = sum(row["doubled_records"] for row in rows)
    doubled_ids = sum(row["doubled_event_ids"] for row in rows)
    by_backend = {backend: sum(row["ok"] for row in rows if row["backend"] == backend) for backend in ("postgres", "local")}
    figure = (
        f"{by_backend['postgres']}/{options.trials} PostgreSQL and {by_backend['local']}/{options.trials} local trials clean: "
        f"{doubled} doubled records, {doubled_ids} doubled event ids, {sum(row['landed'] for row in rows)} landings"
    )
    goal = "every trial: each landing recorded once with one event id, first apply exit 1 naming the lost lock, second exit 0, trail verifies, nothing left to plan"
    return finish(NAME, figure, goal, not failed, {"rows": rows, "trials": options.trials, "seed": options.seed})


if __name__ == "__main__":
    raise SystemExit(main())

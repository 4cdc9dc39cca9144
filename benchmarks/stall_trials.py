"""Stall trials: a gateway or a governance receiver that stalls never holds llmplan past its deadline, nor past a signal.

Run from the repository root (about 2 minutes):

    .venv/bin/python -m benchmarks.stall_trials [--trials 1]

The peers are small socket servers on 127.0.0.1 (``tests/stalling_peers.py``):
*silent* accepts and never answers; *trickling* answers ``200`` with
``Content-Length: 100000`` and then one byte every 0.2 s (so no per-read
timeout ever fires); a *trickling proxy* forwards to the sandbox (its own
process) and trickles only the answers of PUTs, which the sandbox applied.
The real CLI runs as a CI job runs it (a child process, no terminal).

- Gateway, silent and trickling: ``plan``, ``drift`` and ``apply`` with
  ``--gateway-timeout 5`` exit 1 within the deadline plus 3 s (start-up,
  the last backoff).
- Gateway trickling its PUT answers (``apply`` of 8 models, parallelism 4,
  ``--gateway-timeout 5``): each cut-off PUT is read back and recorded as
  landed, exit 0, within 2 rounds of the deadline plus 5 s.
- Receiver, silent and trickling (``governance.timeout_seconds: 2``):
  ``apply`` of 20 models exits 0 with every change landed and the events
  in the outbox, within 2 deadlines plus 3 s of its last PUT.
- Signals: the same stalls with the default deadlines (30 s; 5 s for the
  receiver), SIGTERM once the peer is reached: exit 143 within 5 s.

- Records database (a real PostgreSQL behind a TCP proxy that stops
  forwarding, or trickles its answers one byte every 0.2 s), silent and
  trickling: ``plan``, ``drift`` and ``apply`` while connecting exit 1
  within the 10 s connect timeout plus 3 s; ``apply`` (8 models) when the
  database stalls mid-apply exits 1 within ``state.timeout_seconds: 5``
  plus 5 s; with the default deadline (30 s), SIGTERM once it waits on the
  database: exit 143 within 5 s.

Results go to ``benchmarks/results/stall_trials.json``.
"""

from __future__ import annotations

import argparse
import itertools
import signal
import subprocess
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Callable

import tests.stalling_peers as peers
from benchmarks._common import CREDENTIALS, ApplyProject, cli_environ, finish, llmplan_command, parse_time, sandbox_process, timed
from tests.apply.project import Child
from tests.pg_server import DATABASE as PG_DATABASE
from tests.pg_server import PASSWORD as PG_PASSWORD
from tests.pg_server import USER as PG_USER
from tests.pg_server import PostgresServer, running_postgres
from tests.postgres.pg_project import PgProject

NAME = "stall_trials"
GATEWAY_DEADLINE = 5.0
RECEIVER_DEADLINE = 2.0
DATABASE_DEADLINE = 5.0  # state.timeout_seconds of the database trials (SIGTERM rows: the default, 30)
CONNECT_SECONDS = 10.0  # connecting to the database
SIGNAL_WITHIN = 5.0
PARALLELISM = 4
PUT_MODELS = 8
RECEIVER_MODELS = 20
COMMANDS = {"plan": ("plan", "--env", "dev"), "drift": ("drift", "--env", "dev"), "apply": ("apply", "--env", "dev", "--auto-approve")}
STALLS: dict[str, Callable[[], AbstractContextManager[peers.Peer]]] = {"silent": peers.silent, "trickling": peers.trickling}


_MAX_TOKENS = itertools.count(1100)  # each project asks for a value no earlier run left live: every model gets a PUT


def put(method: str, path: str) -> bool:
    return method == "PUT"


def project_for(root: Path, gateway: str, *, models: int, webhook: str | None = None, receiver_deadline: float | None = None) -> ApplyProject:
    project = ApplyProject(root, gateway, webhook_url=webhook, signed=False)
    project.write_environment(parallelism=PARALLELISM)
    if receiver_deadline is not None:
        path = project.env_dir / "environment.yaml"
        path.write_text(path.read_text(encoding="utf-8").replace("timeout_seconds: 5", f"timeout_seconds: {receiver_deadline:g}"), encoding="utf-8")
    project.add_generated(models, max_tokens=next(_MAX_TOKENS))
    return project


def run(project: ApplyProject, command: tuple[str, ...], *options: str) -> Any:
    return timed([*llmplan_command(), *command, *options, "--root", str(project.root)], environ=cli_environ(CREDENTIALS), timeout=300)


def signalled(project: ApplyProject, command: tuple[str, ...], peer: peers.Peer) -> tuple[int, float, str]:
    """Start ``command``, SIGTERM it once ``peer`` is reached; (exit code, seconds from the signal to the exit, stderr)."""
    child = subprocess.Popen(
        [*llmplan_command(), *command, "--root", str(project.root)], env=cli_environ(CREDENTIALS), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        if not peer.reached.wait(120):
            child.kill()
            return -1, float("inf"), "the peer was never reached"
        sent = time.monotonic()
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=120)
        return child.returncode, time.monotonic() - sent, stderr
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)


def row(kind: str, what: str, code: int, seconds: float, goal: float, expected: int, **extra: Any) -> dict[str, Any]:
    return {"stall": kind, "run": what, "exit_code": code, "seconds": round(seconds, 2), "goal_seconds": goal, "expected_exit": expected,
            "ok": code == expected and seconds < goal and extra.pop("checks", True), **extra}


def gateway_trials(workdir: Path, sandbox_url: str) -> list[dict[str, Any]]:
    rows = []
    for kind, stall in STALLS.items():
        for name, command in COMMANDS.items():
            with stall() as peer:
                project = project_for(workdir / f"gateway-{kind}-{name}", peer.url, models=3)
                done = run(project, command, "--gateway-timeout", f"{GATEWAY_DEADLINE:g}")
            rows.append(row(f"gateway {kind}", name, done.code, done.seconds, GATEWAY_DEADLINE + 3, 1, error=last_error(done.stderr)))
            with stall() as peer:
                project = project_for(workdir / f"gateway-{kind}-{name}-sigterm", peer.url, models=3)
                code, seconds, stderr = signalled(project, command, peer)
            rows.append(row(f"gateway {kind}", f"{name}, SIGTERM", code, seconds, SIGNAL_WITHIN, 143, error=last_error(stderr)))
    with peers.trickling_proxy(sandbox_url, put) as proxy:
        project = project_for(workdir / "gateway-puts", proxy.url, models=PUT_MODELS)
        done = run(project, COMMANDS["apply"], "--gateway-timeout", f"{GATEWAY_DEADLINE:g}")
        rounds = -(-PUT_MODELS // PARALLELISM)
        landed = f"Apply complete: {PUT_MODELS} succeeded, 0 failed, 0 not attempted." in done.stdout
        rows.append(row("gateway trickling PUT answers", "apply", done.code, done.seconds, rounds * GATEWAY_DEADLINE + 5, 0, checks=landed, landed_and_recorded=landed, error=last_error(done.stderr)))
    with peers.trickling_proxy(sandbox_url, put) as proxy:
        project = project_for(workdir / "gateway-puts-sigterm", proxy.url, models=PUT_MODELS)
        code, seconds, stderr = signalled(project, COMMANDS["apply"], proxy)
    rows.append(row("gateway trickling PUT answers", "apply, SIGTERM", code, seconds, SIGNAL_WITHIN, 143, error=last_error(stderr)))
    return rows


def receiver_trials(workdir: Path, sandbox: Any) -> list[dict[str, Any]]:
    rows = []
    admin = sandbox.admin
    for kind, stall in STALLS.items():
        with stall() as receiver:
            project = project_for(workdir / f"receiver-{kind}", sandbox.url, models=RECEIVER_MODELS, webhook=receiver.url, receiver_deadline=RECEIVER_DEADLINE)
            admin.clear_requests()
            done = run(project, COMMANDS["apply"])
        puts = [parse_time(entry["time"]) for entry in admin.requests() if entry["method"] == "PUT"]
        after_last = done.ended - max(puts) if puts else float("inf")
        queued = f"Governance: {RECEIVER_MODELS} event(s) not delivered yet" in done.stdout + done.stderr
        landed = f"Apply complete: {RECEIVER_MODELS} succeeded, 0 failed, 0 not attempted." in done.stdout
        rows.append(row(f"receiver {kind}", "apply (after its last PUT)", done.code, after_last, 2 * RECEIVER_DEADLINE + 3, 0,
                        checks=queued and landed, total_seconds=round(done.seconds, 2), events_in_outbox=queued, error=last_error(done.stderr)))
        with stall() as receiver:
            project = project_for(workdir / f"receiver-{kind}-sigterm", sandbox.url, models=RECEIVER_MODELS, webhook=receiver.url)
            code, seconds, stderr = signalled(project, COMMANDS["apply"], receiver)
        rows.append(row(f"receiver {kind}", "apply, SIGTERM", code, seconds, SIGNAL_WITHIN, 143, error=last_error(stderr)))
    return rows


def database_project(root: Path, sandbox_url: str, server: PostgresServer, proxy: peers.Peer, schema: str, *, deadline: float | None) -> tuple[PgProject, dict[str, str]]:
    """A project keeping its records in PostgreSQL, reached through ``proxy``; the environment to run it with."""
    project = PgProject(root, sandbox_url, dsn=server.dsn, schema=schema)
    project.write_environment(parallelism=1)
    if deadline is not None:
        with open(project.env_dir / "environment.yaml", "a", encoding="utf-8") as settings:
            settings.write(f"  timeout_seconds: {deadline:g}\n")
    project.add_generated(PUT_MODELS, max_tokens=next(_MAX_TOKENS))
    return project, cli_environ({**CREDENTIALS, "LLMPLAN_PG_DSN": f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{proxy.port}/{PG_DATABASE}"})


def database_trials(workdir: Path, sandbox: Any, server: PostgresServer) -> list[dict[str, Any]]:
    """The records database behind a TCP proxy that stalls or trickles: from the start (connecting), or mid-apply."""
    rows = []
    schemas = itertools.count()
    for kind in ("silent", "trickling"):
        for name, command in COMMANDS.items():
            with peers.tcp_proxy("127.0.0.1", server.port) as (peer, tcp):
                (tcp.stall if kind == "silent" else tcp.trickle)()
                project, environ = database_project(workdir / f"database-{kind}-{name}", sandbox.url, server, peer, f"stall_{next(schemas)}", deadline=DATABASE_DEADLINE)
                done = timed([*llmplan_command(), *command, "--root", str(project.root)], environ=environ, timeout=300)
            rows.append(row(f"database {kind}", f"{name} (connecting)", done.code, done.seconds, CONNECT_SECONDS + 3, 1, error=last_error(done.stderr)))
        with peers.tcp_proxy("127.0.0.1", server.port) as (peer, tcp):
            project, environ = database_project(workdir / f"database-{kind}-mid-apply", sandbox.url, server, peer, f"stall_{next(schemas)}", deadline=DATABASE_DEADLINE)
            sandbox.admin.faults(latency_ms=150)  # the apply is under way when the database stops answering
            child = Child([*llmplan_command(), *COMMANDS["apply"], "--root", str(project.root)], environ)
            child.wait_for_progress(2, timeout=120)
            (tcp.stall if kind == "silent" else tcp.trickle)()
            stalled = time.monotonic()
            ended = child.finish(timeout=300)
            seconds = time.monotonic() - stalled
            sandbox.admin.clear_faults()
        rows.append(row(f"database {kind}", "apply (mid-apply)", ended.code, seconds, DATABASE_DEADLINE + 5, 1, error=last_error(ended.stderr)))
        with peers.tcp_proxy("127.0.0.1", server.port) as (peer, tcp):
            project, environ = database_project(workdir / f"database-{kind}-sigterm", sandbox.url, server, peer, f"stall_{next(schemas)}", deadline=None)
            sandbox.admin.faults(latency_ms=150)
            child = Child([*llmplan_command(), *COMMANDS["apply"], "--root", str(project.root)], environ)
            child.wait_for_progress(2, timeout=120)
            (tcp.stall if kind == "silent" else tcp.trickle)()
            child.wait_for_stderr("to answer (3 s so far", timeout=120)
            signalled_at = time.monotonic()
            child.kill(signal.SIGTERM)
            ended = child.finish(timeout=120)
            seconds = time.monotonic() - signalled_at
            sandbox.admin.clear_faults()
        rows.append(row(f"database {kind}", "apply, SIGTERM", ended.code, seconds, SIGNAL_WITHIN, 143, error=last_error(ended.stderr)))
    return rows


def last_error(stderr: str) -> str:
    return next((line for line in reversed(stderr.splitlines()) if line.startswith(("Error: ", "Terminated."))), "")[:300]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--trials", type=int, default=1, help="how many times to run every row (default 1)")
    arguments = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="llmplan-stalls-") as directory,
        sandbox_process("--no-catalog", "--models", str(RECEIVER_MODELS), "--rate-limit", "100000000") as sandbox,
        running_postgres() as server,
    ):
        for trial in range(arguments.trials):
            workdir = Path(directory) / f"trial-{trial}"
            rows += gateway_trials(workdir, sandbox.url)
            rows += receiver_trials(workdir, sandbox)
            rows += database_trials(workdir, sandbox, server)
    for entry in rows:
        verdict = "" if entry["ok"] else f"  MISS: exit {entry['exit_code']} (expected {entry['expected_exit']}) {entry.get('error', '')}"
        print(f"  {entry['stall']:30} {entry['run']:28} exit {entry['exit_code']:3} in {entry['seconds']:5.1f} s (goal < {entry['goal_seconds']:g} s){verdict}", flush=True)
    deadline_rows = [entry for entry in rows if "SIGTERM" not in entry["run"]]
    signal_rows = [entry for entry in rows if "SIGTERM" in entry["run"]]
    worst = max(entry["seconds"] - entry["goal_seconds"] for entry in deadline_rows)
    figure = (
        f"{sum(entry['ok'] for entry in deadline_rows)}/{len(deadline_rows)} stalled runs ended within their deadline "
        f"(closest: {worst:+.1f} s from its goal), {sum(entry['ok'] for entry in signal_rows)}/{len(signal_rows)} SIGTERMs honoured "
        f"(slowest {max(entry['seconds'] for entry in signal_rows):.1f} s)"
    )
    goal = f"all within deadline + slack; SIGTERM < {SIGNAL_WITHIN:g} s, exit 143"
    return finish(NAME, figure, goal, all(entry["ok"] for entry in rows), {"rows": rows, "trials": arguments.trials})


if __name__ == "__main__":
    raise SystemExit(main())

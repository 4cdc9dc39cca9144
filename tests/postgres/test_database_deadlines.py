"""A records database that stops answering, holds a row, refuses a login or has no driver:
every one ends the command with a clear error, within its deadline, naming host and port and never the password.

The database is real (PostgreSQL 15); the stall is a TCP proxy in front of it that stops
forwarding while keeping every connection open (tests/stalling_peers.py), as a proxy or a
network path that stops does.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest

import tests.stalling_peers as peers
from tests.apply.project import SandboxAdmin
from tests.pg_server import DATABASE, PASSWORD, USER
from tests.postgres.pg_project import PgProject

SIGNAL_WITHIN = 5.0  # the promise: SIGTERM and Ctrl-C end any command within 5 s


@pytest.fixture
def proxy(postgres: Any) -> Iterator[tuple[peers.Peer, peers.TcpProxy]]:
    with peers.tcp_proxy("127.0.0.1", postgres.port) as running:
        yield running


def through(project: PgProject, peer: peers.Peer, *, timeout: float | None = None) -> dict[str, str | None]:
    """The project's environment, its records reached through the proxy (with a short deadline, if given)."""
    if timeout is not None:
        with open(project.env_dir / "environment.yaml", "a", encoding="utf-8") as settings:
            settings.write(f"  timeout_seconds: {timeout:g}\n")  # the state block is the file's last
    return {"LLMPLAN_PG_DSN": f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{peer.port}/{DATABASE}"}


@pytest.mark.slow(reason="waits out the 5 s records deadline it sets, as the user would, then a second apply")
def test_a_database_that_stalls_mid_apply_is_said_then_ends_it_within_its_deadline_and_the_next_apply_converges(
    first: PgProject, gateway: SandboxAdmin, proxy: tuple[peers.Peer, peers.TcpProxy]
) -> None:
    peer, tcp = proxy
    environ = through(first, peer, timeout=5)
    gateway.faults(latency_ms=150)
    running = first.start("apply", "--env", "dev", "--auto-approve", "--parallelism", "1", env=environ)
    running.wait_for_progress(2)
    tcp.stall()
    started = time.monotonic()
    stopped = running.finish(timeout=60)
    elapsed = time.monotonic() - started

    assert stopped.code == 1, str(stopped)
    assert elapsed < 30, elapsed  # the 5 s deadline, not a TCP timeout of minutes
    where = f"PostgreSQL {USER}@127.0.0.1:{peer.port}/{DATABASE}"
    assert re.search(rf"waiting for the records database {where} \(schema \w+\) to answer \(3 s so far; at most 5 s\)", stopped.stderr), str(stopped)
    assert re.search(rf"Error: the records database {where} \(schema \w+\) did not answer within 5 s", stopped.stderr), str(stopped)
    assert "Traceback" not in stopped.stderr and PASSWORD not in stopped.stdout + stopped.stderr
    peer.stop()  # the stall ends: the server sees the sessions go, and the lock with them
    gateway.clear_faults()
    again = first.run("apply", "--env", "dev", "--auto-approve", "--lock-timeout", "30")  # straight to the database
    assert again.code == 0, str(again)
    landed = Counter(gateway.model_of(put) for put in gateway.puts(status=200))
    successes = Counter(entry["model_id"] for entry in first.audit() if entry["action"] == "configuration_update" and entry["status"] == "success")
    assert successes == landed and sum(landed.values()) == 6
    assert first.run("audit", "verify", "--env", "dev").code == 0


def test_a_database_that_accepts_and_never_answers_is_said_and_ends_the_command_naming_host_and_port(first: PgProject, proxy: tuple[peers.Peer, peers.TcpProxy]) -> None:
    peer, tcp = proxy
    tcp.stall()
    environ = {"LLMPLAN_PG_DSN": through(first, peer)["LLMPLAN_PG_DSN"] + "?connect_timeout=5"}  # the DSN's limit (10 s when it sets none)
    done = first.subprocess("plan", "--env", "dev", env=environ)
    assert done.code == 1, str(done)
    assert f"waiting for PostgreSQL {USER}@127.0.0.1:{peer.port}/{DATABASE}" in done.stderr and "to accept the connection (at most 5 s)" in done.stderr, str(done)
    assert f"Error: the records database PostgreSQL {USER}@127.0.0.1:{peer.port}/{DATABASE}" in done.stderr and "cannot be reached" in done.stderr
    assert PASSWORD not in done.stdout + done.stderr


@pytest.mark.slow(reason="the stall is announced after 3 s of waiting, and only then is the signal sent")
def test_sigterm_ends_an_apply_waiting_on_a_stalled_database_within_5_s(first: PgProject, gateway: SandboxAdmin, proxy: tuple[peers.Peer, peers.TcpProxy]) -> None:
    peer, tcp = proxy
    environ = through(first, peer)  # the default deadline, 30 s: the signal, not the deadline, must end it
    gateway.faults(latency_ms=150)
    running = first.start("apply", "--env", "dev", "--auto-approve", "--parallelism", "1", env=environ)
    running.wait_for_progress(2)
    tcp.stall()
    running.wait_for_stderr("to answer (3 s so far; at most 30 s)")  # it waits on the database now
    done, elapsed = running.signal_and_finish(signal.SIGTERM, timeout=60)
    assert done.code == 143, str(done)
    assert elapsed < SIGNAL_WITHIN, elapsed
    assert "Traceback" not in done.stderr


def test_a_row_another_session_holds_ends_the_wait_naming_it(first: PgProject, postgres: Any, schema: str) -> None:
    first.apply()
    first.edit_model("bench-00001", "max_tokens: 1024", "max_tokens: 1200")
    with open(first.env_dir / "environment.yaml", "a", encoding="utf-8") as settings:
        settings.write("  timeout_seconds: 6\n")  # a lock wait ends after 2 s
    with psycopg.connect(postgres.dsn) as holder:  # a transaction left open by hand, holding the state's row
        holder.execute(f"SELECT * FROM {schema}.states WHERE environment = 'dev' FOR UPDATE")
        done = first.run("apply", "--env", "dev", "--auto-approve")
        holder.rollback()
    assert done.code == 1, str(done)
    assert "are locked by another database session (a row it holds, for longer than lock_timeout)" in done.stderr, str(done)
    assert "pg_stat_activity" in done.stderr and "Traceback" not in done.stderr
    again = first.run("apply", "--env", "dev", "--auto-approve")
    assert again.code == 0, str(again)
    assert first.run("plan", "--env", "dev", "--detailed-exitcode").code == 0


@pytest.mark.parametrize(
    ("user", "password", "said"),
    [
        (USER, "not-the-password", f"refused the login of role {USER}: password authentication failed (a wrong password, or no such role"),
        ("nobody_here", "whatever", "refused the login of role nobody_here: password authentication failed (a wrong password, or no such role"),
    ],
    ids=["wrong password", "no such role"],
)
def test_a_refused_login_is_said_as_such_never_as_an_outage(first: PgProject, postgres: Any, user: str, password: str, said: str) -> None:
    dsn = f"postgresql://{user}:{password}@127.0.0.1:{postgres.port}/{DATABASE}"
    done = first.run("plan", "--env", "dev", env={"LLMPLAN_PG_DSN": dsn})
    assert done.code == 1, str(done)
    assert said in done.stderr, str(done)
    assert "cannot be reached" not in done.stderr and password not in done.stdout + done.stderr


NO_DRIVER = "raise ImportError(\"No module named 'psycopg'\", name='psycopg')\n"


@pytest.mark.parametrize(
    "args",
    [("plan", "--env", "dev"), ("drift", "--env", "dev"), ("state", "list", "--env", "dev"), ("state", "migrate", "--env", "dev"), ("plan", "--env", "dev", "--format", "json")],
    ids=["plan", "drift", "state list", "state migrate", "plan --format json"],
)
def test_without_the_driver_every_command_names_the_extra_to_install(first: PgProject, tmp_path: Path, args: tuple[str, ...]) -> None:
    """A Python where importing psycopg fails, as on a machine without the postgres extra."""
    shadow = tmp_path / "no-driver" / "psycopg"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(NO_DRIVER, encoding="utf-8")
    environ = first.child_environ({"PYTHONPATH": str(shadow.parent)})
    done = subprocess.run([sys.executable, "-m", "planner", *args, "--root", str(first.root)], env=environ, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "its driver is not installed (psycopg)" in done.stderr and "pip install 'llmplan[postgres]'" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    if "--format" in args:
        document = json.loads(done.stdout)  # the error as one JSON document where the caller reads
        assert "pip install 'llmplan[postgres]'" in json.dumps(document), done.stdout

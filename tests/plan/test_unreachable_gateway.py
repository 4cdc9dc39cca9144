"""A cron job must fail fast and never silently: plan, drift and apply
against a gateway that refuses, does not resolve, accepts and never
answers, or speaks plain HTTP to an https:// address, run as a user runs
them (a child process, real sockets).

The bounds asserted are the promises (10 s; the deadline plus slack),
several times what the runs take, so a busy machine cannot make them flake.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.stalling_peers as peers
from planner.app.connections import address_source
from planner.app.environments import load_environment
from tests.plan.e2e_project import SUPPORT, SUPPORT_BOT, Project

SOURCE = "from gateway.base_url in environments/dev/environment.yaml"
RUNS = 3  # the breaker's wait once made 3 of 4 runs slow: every run must be fast



def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def silent_gateway() -> Iterator[str]:
    """A loopback address where the kernel accepts connections and nobody ever answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def project_at(tmp_path: Path, url: str, *, timeout_seconds: float | None = None, models: int = 1) -> Project:
    """One model by default; with ``models`` more, more GETs than the 4 threads (parallelism 4) send at once."""
    project = Project(tmp_path / "project", url)
    if timeout_seconds is not None:
        (project.env_dir / "environment.yaml").write_text(f"gateway:\n  base_url: {url}\n  timeout_seconds: {timeout_seconds:g}\n", encoding="utf-8")
    project.write_model("support-bot", SUPPORT_BOT)
    for index in range(1, models):
        project.write_model(f"bot-{index:02d}", SUPPORT_BOT.replace(SUPPORT, f"{SUPPORT[:-2]}{index:02d}"))
    return project


def timed(project: Project, *args: str, env: dict[str, str | None] | None = None) -> tuple[float, object]:
    started = time.monotonic()
    done = project.subprocess(*args, env=env, timeout=120)
    return time.monotonic() - started, done


@pytest.mark.slow(reason="4 runs of each command against a refused port: the promise is 'on every run'")
@pytest.mark.parametrize("command", [("plan", "--env", "dev"), ("drift", "--env", "dev"), ("apply", "--env", "dev", "--auto-approve")])
def test_a_refused_gateway_fails_within_10_s_on_every_run_naming_the_url_and_where_it_came_from(tmp_path: Path, command: tuple[str, ...]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    project = project_at(tmp_path, url, models=15)  # 30 GETs: threads that come after a failed token fetch must not start another
    for run in range(RUNS):
        seconds, done = timed(project, *command)
        assert done.code == 1, str(done)  # drift too: an unreachable gateway is an error, never "no drift"
        assert "(connection refused)" in done.stderr and f"the gateway is {url} ({SOURCE})" in done.stderr, str(done)
        assert "Traceback" not in done.stderr and "to recover" not in done.stderr  # nothing answered: the breaker adds no wait
        assert seconds < 10, (run, seconds)


def test_the_error_names_llmplan_gateway_url_when_that_is_where_the_address_came_from(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    seconds, done = timed(project_at(tmp_path, "http://127.0.0.1:1"), "plan", "--env", "dev", "--gateway-timeout", "1", env={"LLMPLAN_GATEWAY_URL": url})
    assert done.code == 1 and f"the gateway is {url} (from $LLMPLAN_GATEWAY_URL)" in done.stderr, str(done)
    assert seconds < 10, seconds  # --gateway-timeout 1 caps the 5 s for a connection that fails outright


@pytest.mark.slow(reason="4 runs against a name that does not resolve: the promise is 'on every run'")
def test_a_name_that_does_not_resolve_fails_within_10_s_on_every_run(tmp_path: Path) -> None:
    project = project_at(tmp_path, "https://llmplan-test.invalid", models=15)
    for run in range(RUNS):
        # listed, so the allow-list lets it through to the name lookup that fails
        seconds, done = timed(project, "plan", "--env", "dev", env={"LLMPLAN_ALLOWED_GATEWAYS": "llmplan-test.invalid,login.llmplan-test.invalid"})
        assert done.code == 1, str(done)
        assert "(the host name does not resolve)" in done.stderr and f"https://llmplan-test.invalid ({SOURCE})" in done.stderr, str(done)
        assert seconds < 10, (run, seconds)


def test_https_to_a_plain_http_gateway_says_so_and_suggests_http_on_loopback(tmp_path: Path) -> None:
    with peers.plain_http() as server:  # as the sandbox answers a TLS handshake
        url = f"https://127.0.0.1:{server.port}"
        seconds, done = timed(project_at(tmp_path, url), "plan", "--env", "dev")
    assert done.code == 1, str(done)
    assert "Error: TLS failed with the gateway: POST /oauth/token: the server answered the TLS handshake in plain HTTP: it does not speak https at that address" in done.stderr, str(done)
    assert f"Hint: use http://127.0.0.1:{server.port} instead: plain HTTP is allowed on loopback addresses" in done.stderr
    assert "connection error" not in done.stderr
    assert server.accepted == 1  # said at once: a handshake answered in plain HTTP is not retried
    assert seconds < 10, seconds


@pytest.mark.slow(reason='waits out its 5 s gateway deadline, as the user would')
def test_a_gateway_that_never_answers_fails_at_the_gateway_timeout_and_says_it_is_waiting(tmp_path: Path, silent_gateway: str) -> None:
    seconds, done = timed(project_at(tmp_path, silent_gateway), "plan", "--env", "dev", "--gateway-timeout", "5")
    assert done.code == 1, str(done)
    assert "waiting up to " in done.stderr and f" s more for the gateway at {silent_gateway} ({SOURCE}) to answer POST /oauth/token" in done.stderr, str(done)
    assert "POST /oauth/token failed (no complete answer within 5.0 s) in 5.0 s" in done.stderr and f"the gateway is {silent_gateway}" in done.stderr
    assert 4 < seconds < 5 + 15, seconds  # the deadline, not 9 attempts of 15 s


@pytest.mark.slow(reason='waits out its 4 s gateway deadline, as the user would')
def test_gateway_timeout_seconds_in_the_environment_sets_the_deadline(tmp_path: Path, silent_gateway: str) -> None:
    seconds, done = timed(project_at(tmp_path, silent_gateway, timeout_seconds=4), "drift", "--env", "dev")
    assert done.code == 1 and "(no complete answer within 4.0 s) in 4.0 s" in done.stderr, str(done)
    assert 3 < seconds < 4 + 15, seconds


@pytest.mark.parametrize(
    ("gateway", "environ", "source"),
    [
        ("region: eu-west-1", {}, "from gateway.region eu-west-1 in environments/dev/environment.yaml"),
        ("base_url: https://api.example.com", {}, "from gateway.base_url in environments/dev/environment.yaml"),
        ("sandbox: true", {}, "the built-in sandbox, from gateway.sandbox in environments/dev/environment.yaml"),
        ("region: eu-west-1", {"LLMPLAN_GATEWAY_URL": "http://127.0.0.1:8765"}, "from $LLMPLAN_GATEWAY_URL"),  # it wins over the file
    ],
)
def test_every_source_of_the_address_is_named(tmp_path: Path, gateway: str, environ: dict[str, str], source: str) -> None:
    project = project_at(tmp_path, "http://127.0.0.1:1")
    project.write_environment(gateway=gateway)
    assert address_source(load_environment(project.root, "dev"), environ) == source

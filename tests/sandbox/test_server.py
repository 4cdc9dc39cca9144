"""Starting, stopping, keep-alive and addresses of the in-process server."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from typing import Any, Callable

import pytest
import requests

from planner.sandbox import SandboxError, start_sandbox

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"


def test_the_url_names_the_loopback_address_and_the_chosen_port(sandbox: Any) -> None:
    assert sandbox.host == "127.0.0.1"
    assert sandbox.port > 0
    assert sandbox.url == f"http://127.0.0.1:{sandbox.port}"
    assert requests.get(f"{sandbox.url}/__sandbox/health", timeout=5).json()["status"] == "ok"


def test_stop_is_idempotent_closes_the_port_and_ends_the_thread() -> None:
    running = start_sandbox()
    serving = [t for t in threading.enumerate() if t.name == f"llmplan-sandbox-{running.port}"]
    running.stop()
    running.stop()
    assert running.stopped
    assert not any(t.is_alive() for t in serving)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{running.url}/__sandbox/health", timeout=2)


def test_the_port_can_be_reused_at_once_after_stop() -> None:
    with start_sandbox() as first:
        port = first.port
    with start_sandbox(port=port) as second:
        assert requests.get(f"{second.url}/__sandbox/health", timeout=5).status_code == 200


def test_a_port_in_use_is_a_clear_error(sandbox: Any) -> None:
    with pytest.raises(SandboxError) as raised:
        start_sandbox(port=sandbox.port)
    assert f"cannot listen on 127.0.0.1:{sandbox.port}" in str(raised.value)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "example.invalid"])
def test_a_non_loopback_host_is_refused_without_allow_remote(host: str) -> None:
    with pytest.raises(SandboxError) as raised:
        start_sandbox(host=host)
    assert "not a loopback address" in str(raised.value)
    assert "--allow-remote" in (raised.value.hint or "")


def test_localhost_is_loopback(make_sandbox: Callable[..., Any]) -> None:
    assert requests.get(f"{make_sandbox(host='localhost').url}/__sandbox/health", timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"rate_limit": 0}, "rate_limit.requests"),
        ({"rate_window_seconds": 0}, "rate_limit.window_seconds"),
        ({"latency_ms": -5}, "latency_ms"),
        ({"token_lifetime_seconds": 0}, "token_lifetime_seconds"),
        ({"faults": {"rules": [{"effect": "status"}]}}, "rules[0]"),
    ],
)
def test_bad_start_options_are_refused_naming_the_setting(options: dict[str, Any], field: str) -> None:
    with pytest.raises(SandboxError) as raised:
        start_sandbox(**options)
    assert field in str(raised.value)


def test_one_connection_serves_many_requests(sandbox: Any, api: Any) -> None:
    connection = http.client.HTTPConnection(sandbox.host, sandbox.port, timeout=5)
    headers = {"Authorization": f"Bearer {api.token}"}
    connection.request("GET", f"/api/v2/ai/models/{SUPPORT}", headers=headers)
    first = connection.getresponse()
    first.read()
    socket_used = connection.sock
    for _ in range(50):
        connection.request("GET", f"/api/v2/ai/models/{SUPPORT}", headers=headers)
        response = connection.getresponse()
        assert response.status == 200
        assert int(response.getheader("Content-Length")) == len(response.read())
    assert connection.sock is socket_used  # never reconnected
    connection.close()


def test_head_answers_headers_without_a_body(sandbox: Any, api: Any) -> None:
    response = api.request("HEAD", f"/api/v2/ai/models/{SUPPORT}")
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) > 0
    assert response.content == b""


def test_stop_closes_idle_keep_alive_connections() -> None:
    with start_sandbox() as private:
        with socket.create_connection((private.host, private.port), timeout=5) as connection:
            connection.sendall(b"GET /__sandbox/health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert connection.recv(65536).startswith(b"HTTP/1.1 200")
            private.stop()
            assert connection.recv(65536) == b""  # closed by the server, not left hanging


def test_stop_does_not_wait_for_a_slow_body(make_sandbox: Callable[..., Any], make_api: Callable[..., Any]) -> None:
    running = make_sandbox()
    api = make_api(running)
    requests.post(f"{running.url}/__sandbox/faults", json={"rules": [{"effect": "slow_body", "delay_ms": 60_000}]}, timeout=5).raise_for_status()
    outcome: list[Any] = []

    def slow_read() -> None:
        try:
            outcome.append(api.get(f"/api/v2/ai/models/{SUPPORT}", timeout=30).status_code)
        except requests.RequestException as error:
            outcome.append(error)

    worker = threading.Thread(target=slow_read, daemon=True)
    worker.start()
    deadline = time.monotonic() + 5
    while not any(e["path"].startswith("/api/v2/") for e in running.app.requests.all()) and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    running.stop()
    assert time.monotonic() - started < 5
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert len(outcome) == 1  # the client got its answer early or a closed connection, not a hang


def test_requests_are_not_logged_to_stderr_unless_verbose(make_sandbox: Callable[..., Any], capfd: pytest.CaptureFixture[str]) -> None:
    quiet = make_sandbox()
    for _ in range(3):
        requests.get(f"{quiet.url}/api/v2/ai/models", timeout=5)
        requests.get(f"{quiet.url}/nowhere", timeout=5)
    assert "/nowhere" not in capfd.readouterr().err
    loud = make_sandbox(verbose=True)
    requests.get(f"{loud.url}/nowhere", timeout=5)
    # the server thread may write its log line just after the answer reached us
    seen = ""
    deadline = time.monotonic() + 5
    while "GET /nowhere 404" not in seen and time.monotonic() < deadline:
        seen += capfd.readouterr().err
        threading.Event().wait(0.01)
    assert "GET /nowhere 404" in seen

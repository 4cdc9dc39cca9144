"""The connection guard: the address a connection actually reached is judged
after the TCP handshake and before a byte of the request (or of TLS) is sent.

No loopback test can reach a real metadata address, so these pass the guard
a rule that refuses loopback and prove on a real listening socket that a
refused connection carries nothing: not the request, not the Basic
credentials, not a TLS ClientHello. The default rule is
planner.model.addresses.address_never_allowed (tests/core/test_addresses.py).
"""

from __future__ import annotations

import socket
import threading
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Iterator

import pytest
import requests

from planner.adapters.gateway.client import GatewayClient
from planner.adapters.gateway.endpoints import Credentials, Endpoint
from planner.adapters.gateway.guard import GuardedAdapter
from planner.adapters.governance import GovernanceNotifier
from planner.adapters.records.local_outbox import LocalOutbox
from planner.model.errors import DestinationNotAllowed
from tests.records.records_helpers import queue

SECRET = "guard-canary-secret-5d1c"


def refuse_loopback(address: IPv4Address | IPv6Address) -> str | None:
    return "an address this test refuses" if address.is_loopback else None


class Listener:
    """A TCP socket on 127.0.0.1 that records every connection and every byte it receives."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.port = self._socket.getsockname()[1]
        self.connections = 0
        self.received = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with connection:
                connection.settimeout(5)
                while chunk := connection.recv(65536):  # until the client closes
                    self.received += chunk

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._socket.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    running = Listener()
    yield running
    running.stop()


def guarded_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy from this machine's environment between us and the listener
    session.mount("http://", GuardedAdapter(refuse=refuse_loopback))
    session.mount("https://", GuardedAdapter(refuse=refuse_loopback))
    return session


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_refused_peer_receives_not_a_byte(listener: Listener, scheme: str) -> None:
    with pytest.raises(DestinationNotAllowed, match=r"localhost resolved to (127\.0\.0\.1|::1), an address this test refuses"):
        guarded_session().post(f"{scheme}://localhost:{listener.port}/oauth/token", data={"grant_type": "client_credentials"}, auth=("client", SECRET), timeout=5)
    listener.stop()
    assert listener.connections == 1  # the handshake happened: that is where the address is known
    assert listener.received == b""  # and nothing followed it


def test_the_gateway_client_stops_at_once_instead_of_retrying(listener: Listener) -> None:
    endpoint = Endpoint(f"http://127.0.0.1:{listener.port}", f"http://127.0.0.1:{listener.port}")
    with GatewayClient(endpoint, Credentials("client", SECRET), parallelism=2) as client:
        client._transport._session.mount("http://", GuardedAdapter(refuse=refuse_loopback))  # the client's own session, with the test's rule
        with pytest.raises(DestinationNotAllowed) as caught:
            client.list_models()
    listener.stop()
    assert listener.connections == 1  # not a network failure: no retry, no second connection
    assert listener.received == b""
    assert SECRET not in str(caught.value)


def test_a_refused_webhook_keeps_the_event_and_says_why(listener: Listener, tmp_path: Path) -> None:
    notifier = GovernanceNotifier(f"http://127.0.0.1:{listener.port}/hook", LocalOutbox(tmp_path / "outbox.jsonl"), session=guarded_session())
    event = {"event_id": "evt-1", "event_type": "llm_config_change"}
    queue(notifier.outbox, event)
    assert notifier.deliver(event) is False  # never raises into apply
    listener.stop()
    assert listener.received == b""
    assert [pending["event_id"] for pending in notifier.pending()] == ["evt-1"]
    assert any("evt-1 not sent: 127.0.0.1 resolved to 127.0.0.1, an address this test refuses" in warning for warning in notifier.warnings)


def test_the_default_rule_lets_loopback_through(sandbox) -> None:  # type: ignore[no-untyped-def]
    session = requests.Session()
    session.mount("http://", GuardedAdapter())
    assert session.get(f"{sandbox.url}/api/v2/ai/models", timeout=5).status_code == 401  # reached the gateway, which wants a token

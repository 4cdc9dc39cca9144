"""Fixtures of the gateway client tests: a fake clock, a sandbox with its admin endpoints, clients."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests

# tests/stalling_peers.py (peers that misbehave) and tests/plan/tls_front.py (a throw-away certificate)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plan"))


class SandboxAdmin:
    """The sandbox's admin endpoints, for arranging faults and reading the request log."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._http = requests.Session()
        self._http.trust_env = False

    def faults(self, **spec: Any) -> None:
        response = self._http.post(f"{self.url}/__sandbox/faults", json=spec, timeout=5)
        assert response.status_code < 300, response.text

    def clear_faults(self) -> None:
        self._http.delete(f"{self.url}/__sandbox/faults", timeout=5).raise_for_status()

    def requests(self, *, path_contains: str = "", method: str | None = None) -> list[dict[str, Any]]:
        response = self._http.get(f"{self.url}/__sandbox/requests", timeout=5)
        response.raise_for_status()
        return [
            entry
            for entry in response.json()["requests"]
            if path_contains in entry["path"] and (method is None or entry["method"] == method) and not entry["path"].startswith("/__sandbox")
        ]

    def token_requests(self) -> list[dict[str, Any]]:
        return self.requests(path_contains="/oauth/token")

    def close(self) -> None:
        self._http.close()


@pytest.fixture
def gateway(make_sandbox: Callable[..., Any]) -> Any:
    """A sandbox (``make_sandbox`` of tests/conftest.py) with the demo catalog and a budget no ordinary test reaches."""
    return make_sandbox(rate_limit=100_000)


@pytest.fixture
def admin(gateway: Any) -> Iterator[SandboxAdmin]:
    helper = SandboxAdmin(gateway.url)
    yield helper
    helper.close()


SANDBOX_CREDENTIALS = ("sandbox", "sandbox-secret")
FAST_RETRIES = {"backoff_base": 0.01, "backoff_cap": 0.05}


@pytest.fixture
def make_client() -> Iterator[Callable[..., Any]]:
    """Build GatewayClients for a sandbox (fast backoff unless told otherwise); all closed at teardown."""
    from planner.gateway.client import GatewayClient
    from planner.gateway.endpoints import Credentials, Endpoint
    from planner.gateway.retry import RetryPolicy

    made: list[Any] = []

    def build(sandbox: Any, *, credentials: tuple[str, str] = SANDBOX_CREDENTIALS, retry: Any = None, **options: Any) -> Any:
        client = GatewayClient(
            Endpoint(sandbox.url, sandbox.url),
            Credentials(*credentials),
            retry=retry if retry is not None else RetryPolicy(**FAST_RETRIES),
            **options,
        )
        made.append(client)
        return client

    yield build
    for client in made:
        client.close()

"""Helpers of the sandbox tests: an authenticated API client, raw-socket
requests, and a valid configuration to start from (``sandbox serve`` as a
child process is in serve_process.py)."""

from __future__ import annotations

import copy
import socket
from typing import Any, Callable, Iterator

import pytest
import requests

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"  # demo model: max_context_window 4096, restricted political


class Api:
    """A keep-alive client of one sandbox holding a token of one OAuth client."""

    def __init__(self, url: str, client_id: str = "sandbox", secret: str = "sandbox-secret") -> None:
        self.url = url
        self.session = requests.Session()
        self.session.trust_env = False
        self.client_id = client_id
        self.secret = secret
        self.token = self.fetch_token()
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def fetch_token(self) -> str:
        response = requests.post(
            f"{self.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(self.client_id, self.secret), timeout=5
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def get(self, path: str, **options: Any) -> requests.Response:
        return self.session.get(self.url + path, timeout=options.pop("timeout", 5), **options)

    def put(self, path: str, **options: Any) -> requests.Response:
        return self.session.put(self.url + path, timeout=options.pop("timeout", 5), **options)

    def request(self, method: str, path: str, **options: Any) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=options.pop("timeout", 5), **options)

    def put_config(self, model_id: str, body: dict[str, Any]) -> requests.Response:
        return self.put(f"/api/v2/ai/models/{model_id}/configuration", json=body)

    def close(self) -> None:
        self.session.close()


@pytest.fixture
def make_api() -> Iterator[Callable[..., Api]]:
    made: list[Api] = []

    def make(sandbox: Any, client_id: str = "sandbox", secret: str = "sandbox-secret") -> Api:
        api = Api(sandbox.url, client_id, secret)
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()


@pytest.fixture
def api(sandbox: Any, make_api: Callable[..., Api]) -> Api:
    return make_api(sandbox)


_VALID = {
    "model_id": SUPPORT,
    "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.3},
    "safety_filters": [{"filter_type": "pii", "action": "redact", "threshold": 85}],
    "max_tokens": 2048,
    "compliance_mode": "strict",
}


@pytest.fixture
def valid_config() -> Callable[..., dict[str, Any]]:
    """A valid configuration of the demo model ``SUPPORT``, with fields replaced."""

    def build(**changes: Any) -> dict[str, Any]:
        config = copy.deepcopy(_VALID)
        config.update(changes)
        return config

    return build


def raw_exchange(sandbox: Any, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, return everything the server sends until it closes or goes quiet."""
    with socket.create_connection((sandbox.host, sandbox.port), timeout=timeout) as connection:
        connection.sendall(data)
        chunks = []
        try:
            while True:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if _complete(b"".join(chunks)):
                    break
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


def _complete(data: bytes) -> bool:
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


@pytest.fixture
def raw() -> Callable[..., bytes]:
    return raw_exchange

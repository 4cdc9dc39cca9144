"""What the client puts on the wire, byte for byte: token request form, headers, JSON body.

The sandbox does not log headers, so this one test listens with a tiny
recording HTTP server of its own; everything else runs against the sandbox.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from planner import __version__
from planner.adapters.gateway.client import GatewayClient
from planner.adapters.gateway.endpoints import Credentials, Endpoint

MODEL = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})
        if self.path == "/oauth/token":
            payload: Any = {"access_token": "tok-123", "token_type": "bearer", "expires_in": 3600}
        else:
            payload = json.loads(body) if body else {"id": MODEL, "name": "m", "capabilities": {"max_context_window": 10}}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _answer


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Recorder.seen
    server.shutdown()
    server.server_close()


def test_token_request_and_api_requests_on_the_wire(recorder: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = recorder
    with GatewayClient(Endpoint(url, url), Credentials("my-id", "my-secret")) as client:
        client.get_model(MODEL)
        client.put_configuration(MODEL, {"model_id": MODEL, "max_tokens": 5, "version": 3, "selfUri": "/x"}, expected_version=7)

    token, get, put = seen
    assert (token["method"], token["path"]) == ("POST", "/oauth/token")
    assert token["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert token["body"] == b"grant_type=client_credentials"  # the secret is not in the body
    assert token["headers"]["Authorization"] == "Basic " + base64.b64encode(b"my-id:my-secret").decode()

    for request in (get, put):
        headers = request["headers"]
        assert headers["Authorization"] == "Bearer tok-123"
        assert headers["User-Agent"] == f"llmplan/{__version__}"
        assert re.fullmatch(r"[0-9a-f-]{36}", headers["ININ-Correlation-Id"])
    assert get["headers"]["ININ-Correlation-Id"] != put["headers"]["ININ-Correlation-Id"]
    assert put["headers"]["Content-Type"] == "application/json"
    # Read-only fields are not sent; the expected version is.
    assert json.loads(put["body"]) == {"model_id": MODEL, "max_tokens": 5, "version": 7}

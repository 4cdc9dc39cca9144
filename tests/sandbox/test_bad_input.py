"""Bad input gets the right 4xx with the error body; never a 500, never a dead thread."""

from __future__ import annotations

import json
import logging
import socket
from typing import Any, Callable

import pytest
import requests

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
CONFIG = f"/api/v2/ai/models/{SUPPORT}/configuration"


def status_and_body(reply: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = reply.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def still_serving(api: Any) -> None:
    assert api.get(f"/api/v2/ai/models/{SUPPORT}").status_code == 200


@pytest.fixture
def gateway(make_sandbox: Callable[..., Any], make_api: Callable[..., Any]) -> tuple[Any, Any]:
    sandbox = make_sandbox(rate_limit=100_000)
    return sandbox, make_api(sandbox)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"model_id": ', "not valid JSON"),  # truncated
        (b"", "empty"),
        (b"\xff\xfe{}", "UTF-8"),
        (b'{"max_tokens": NaN}', "NaN"),
        (b"[" * 100_000 + b"]" * 100_000, "nested"),  # deeper than any parser stack
    ],
)
def test_a_body_that_is_not_json_gets_400_saying_why(gateway: tuple[Any, Any], body: bytes, says: str) -> None:
    _, api = gateway
    response = api.put(CONFIG, data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert says in response.json()["message"]
    still_serving(api)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_of_another_type_gets_415(gateway: tuple[Any, Any], content_type: str | None, valid_config: Callable[..., dict[str, Any]]) -> None:
    _, api = gateway
    headers = {"Content-Type": content_type} if content_type else {}
    response = api.put(CONFIG, data=json.dumps(valid_config()).encode(), headers=headers)
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported.media.type"
    still_serving(api)


def test_json_with_a_charset_is_fine(gateway: tuple[Any, Any], valid_config: Callable[..., dict[str, Any]]) -> None:
    _, api = gateway
    response = api.put(CONFIG, data=json.dumps(valid_config()).encode(), headers={"Content-Type": "application/json; charset=UTF-8"})
    assert response.status_code == 200


def test_a_body_over_1_mib_gets_413_and_the_connection_is_closed(gateway: tuple[Any, Any]) -> None:
    _, api = gateway
    response = api.put(CONFIG, data=b"x" * (1024 * 1024 + 1), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["code"] == "request.entity.too.large"
    assert response.headers["Connection"] == "close"
    assert "inin-ratelimit-count" in response.headers  # an API answer like any other
    still_serving(api)


def test_a_body_of_exactly_1_mib_is_read_and_judged(gateway: tuple[Any, Any]) -> None:
    _, api = gateway
    response = api.put(CONFIG, data=b" " * (1024 * 1024), headers={"Content-Type": "application/json"})
    assert response.status_code == 400  # blank, not too large


@pytest.mark.parametrize(
    "path",
    [
        "/api/v2/nothing",
        "/api/v2/ai/models/",
        f"/api/v2/ai/models/{SUPPORT}/configuration/extra",
        "/",
        "/favicon.ico",
        "/__sandbox/nothing",
    ],
)
def test_unknown_paths_get_404_with_the_error_body(gateway: tuple[Any, Any], path: str) -> None:
    _, api = gateway
    response = api.get(path)
    assert response.status_code == 404
    assert response.json()["code"] == "not.found"


@pytest.mark.parametrize("model_id", ["not-a-uuid", "a1b2c3d4", "..", "%2e%2e", "a1b2c3d4-e5f6-7890-abcd-ef123456789g", "%00"])
def test_a_model_id_that_is_not_a_uuid_gets_404_saying_so(gateway: tuple[Any, Any], model_id: str) -> None:
    _, api = gateway
    response = api.get(f"/api/v2/ai/models/{model_id}/configuration")
    assert response.status_code == 404
    assert response.json()["code"] == "not.found"


@pytest.mark.parametrize(
    "target",
    [
        "/api/v2/ai/models/../../../etc/passwd",
        "/api/v2/ai/models/%2e%2e%2f%2e%2e%2fetc%2fpasswd/configuration",
        "/../../etc/passwd",
        "/api/v2/docs/../../../etc/passwd",
    ],
)
def test_path_traversal_finds_nothing(gateway: tuple[Any, Any], raw: Callable[..., bytes], target: str) -> None:
    sandbox, api = gateway
    request = f"GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {api.token}\r\nConnection: close\r\n\r\n"
    status, body = status_and_body(raw(sandbox, request.encode()))
    assert status == 404
    assert "root:" not in json.dumps(body)


def test_a_wrong_method_gets_405_with_allow(gateway: tuple[Any, Any]) -> None:
    _, api = gateway
    response = api.request("DELETE", CONFIG)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, PUT"


def test_an_unknown_method_gets_405_not_501(gateway: tuple[Any, Any], raw: Callable[..., bytes]) -> None:
    sandbox, api = gateway
    status, body = status_and_body(raw(sandbox, b"BREW /api/v2/ai/models HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert (status, body["status"]) == (405, 405)
    still_serving(api)


def test_a_uri_over_64_kib_gets_414_with_the_error_body(gateway: tuple[Any, Any]) -> None:
    _, api = gateway
    response = api.get("/api/v2/ai/models?expand=" + "x" * 70_000)
    assert response.status_code == 414
    assert response.json()["code"] == "uri.too.long"
    still_serving(api)


def test_a_huge_query_value_under_the_limit_gets_400(gateway: tuple[Any, Any]) -> None:
    _, api = gateway
    response = api.get("/api/v2/ai/models?pageNumber=" + "1" * 60_000)
    assert response.status_code == 400
    assert response.json()["errors"][0]["details"] == [{"fieldName": "pageNumber"}]


def test_too_many_query_fields_get_400(gateway: tuple[Any, Any]) -> None:
    _, api = gateway
    response = api.get("/api/v2/ai/models?" + "&".join(f"f{n}=1" for n in range(200)))
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),  # not a request line
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505),  # unknown HTTP version
        (b"PUT " + CONFIG.encode() + b" HTTP/1.1\r\nHost: x\r\nAUTH\r\nContent-Length: lots\r\n\r\n", 400),
        (b"PUT " + CONFIG.encode() + b" HTTP/1.1\r\nHost: x\r\nAUTH\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
        (b"PUT " + CONFIG.encode() + b" HTTP/1.1\r\nHost: x\r\nAUTH\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\n{}", 400),  # smuggling
        (b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % n for n in range(150)) + b"\r\n", 431),  # too many headers
    ],
)
def test_malformed_http_gets_a_json_error_and_the_server_lives_on(
    gateway: tuple[Any, Any], raw: Callable[..., bytes], request_bytes: bytes, status: int
) -> None:
    sandbox, api = gateway
    request_bytes = request_bytes.replace(b"AUTH", f"Authorization: Bearer {api.token}".encode())
    answer_status, body = status_and_body(raw(sandbox, request_bytes))
    assert answer_status == status
    assert body["status"] == status
    still_serving(api)


def test_a_client_that_vanishes_mid_body_does_not_hurt_the_server(gateway: tuple[Any, Any]) -> None:
    sandbox, api = gateway
    with socket.create_connection((sandbox.host, sandbox.port), timeout=5) as connection:
        connection.sendall(b"PUT " + CONFIG.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
    still_serving(api)


def test_a_bug_answers_500_with_the_body_is_logged_and_the_server_lives_on(
    gateway: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox, api = gateway

    def broken(*args: Any) -> Any:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(sandbox.app.store, "configuration", broken)
    with caplog.at_level(logging.ERROR, logger="llmplan.sandbox"):
        response = api.get(CONFIG)
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal.server.error"
    assert body["contextId"] in body["message"]
    assert "simulated bug" in caplog.text
    still_serving(api)


def test_admin_endpoints_refuse_bad_bodies_too(sandbox: Any) -> None:
    base = f"{sandbox.url}/__sandbox"
    assert requests.post(f"{base}/faults", data=b"{", headers={"Content-Type": "application/json"}, timeout=5).status_code == 400
    assert requests.post(f"{base}/models", data=b"x", headers={"Content-Type": "text/plain"}, timeout=5).status_code == 415
    assert requests.patch(f"{base}/models/{SUPPORT}/configuration", json=[], timeout=5).status_code == 400

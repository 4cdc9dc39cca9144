"""Genesys error bodies become typed errors a user can act on."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from planner.adapters.gateway.failures import error_from_exception, error_from_response
from planner.model.errors import (
    AuthenticationFailed,
    BadRequest,
    GatewayError,
    GatewayUnavailable,
    NotFound,
    PermissionDenied,
    RateLimited,
    VersionConflict,
)

MODEL = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
CONFIG_PATH = f"/api/v2/ai/models/{MODEL}/configuration"


def body(status: int, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"message": message, "code": code, "status": status, "contextId": "ctx-42", "details": [], "errors": [], **extra}


def error_for(method: str, path: str, status: int, data: Any, retries: int = 0) -> GatewayError:
    return error_from_response(method=method, url=f"https://api.example.org{path}", path=path, status=status, body=data, retries=retries)


def test_a_400_carries_and_lists_every_field_violation() -> None:
    violations = [
        {"message": "9000 exceeds the model's max_context_window of 4096", "code": "bad.request", "status": 400, "details": [{"fieldName": "max_tokens"}]},
        {"message": "safety_filters[0].action: 'political' is restricted: block is not allowed", "code": "bad.request", "status": 400, "details": [{"fieldName": "safety_filters[0].action"}]},
    ]
    error = error_for("PUT", CONFIG_PATH, 400, body(400, "bad.request", "2 violations", errors=violations))
    assert isinstance(error, BadRequest)
    assert error.errors == tuple(violations)
    assert (error.status, error.code, error.context_id) == (400, "bad.request", "ctx-42")
    assert str(error).splitlines() == [
        f"PUT {CONFIG_PATH} was refused (400 bad.request, 2 field violations) [contextId ctx-42]:",
        "  max_tokens: 9000 exceeds the model's max_context_window of 4096",
        "  safety_filters[0].action: 'political' is restricted: block is not allowed",
    ]


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("PUT", CONFIG_PATH, "ai:llm:manage"),
        ("GET", CONFIG_PATH, "ai:models:read"),
        ("GET", "/api/v2/ai/models", "ai:models:read"),
    ],
)
def test_a_403_names_the_missing_scope(method: str, path: str, scope: str) -> None:
    error = error_for(method, path, 403, body(403, "missing.any.permissions", "Unable to perform the requested action."))
    assert isinstance(error, PermissionDenied)
    assert f"lacks the scope {scope} needed for {method} {path}" in str(error)
    assert str(error).splitlines()[-1] == f"  missing scope: {scope}"  # on a line of its own, whatever the gateway said before it
    assert error.hint == f"grant the OAuth client (GENESYSCLOUD_OAUTHCLIENT_ID) the scope {scope}, or use a client that has it"
    assert error.code == "missing.any.permissions"


@pytest.mark.parametrize(
    ("status", "code", "kind", "words"),
    [
        (401, "bad.credentials", AuthenticationFailed, "check the client id and secret"),
        (404, "not.found", NotFound, "not found (404 not.found)"),
        (409, "conflict", VersionConflict, "changed on the gateway since it was read"),
        (429, "too.many.requests", RateLimited, "still rate limited after 11 attempts"),
        (503, "service.unavailable", GatewayUnavailable, "gateway unavailable: PUT"),
        (500, "internal.error", GatewayError, "unexpected answer 500"),
    ],
)
def test_each_status_has_its_own_error(status: int, code: str, kind: type, words: str) -> None:
    error = error_for("PUT", CONFIG_PATH, status, body(status, code, "said the gateway"), retries=10)
    assert type(error) is kind
    assert words in str(error)
    assert "[contextId ctx-42]" in str(error)
    assert (error.status, error.code, error.method) == (status, code, "PUT")


def test_a_400_without_entries_quotes_the_message() -> None:
    error = error_for("GET", "/api/v2/ai/models", 400, body(400, "bad.request", "pageSize 0 is out of range"))
    assert str(error) == "GET /api/v2/ai/models was refused (400 bad.request): pageSize 0 is out of range [contextId ctx-42]"


def test_a_body_that_is_not_json_still_gives_a_clear_error() -> None:
    error = error_for("GET", CONFIG_PATH, 502, None)
    assert isinstance(error, GatewayUnavailable)
    assert str(error) == f"gateway unavailable: GET {CONFIG_PATH} answered 502"


def test_the_server_text_is_scrubbed_of_the_secret() -> None:
    error = error_from_response(
        method="GET", url="u", path="/p", status=400, body=body(400, "bad.request", "client secret 'canary' is odd"),
        scrub=lambda text: text.replace("canary", "***"),
    )
    assert "canary" not in str(error)


def test_a_transport_failure_says_what_happened_and_how_often_it_was_tried() -> None:
    error = error_from_exception(method="PUT", url="u", path=CONFIG_PATH, error=requests.ReadTimeout("x"), retries=3)
    assert isinstance(error, GatewayUnavailable)
    assert str(error) == f"gateway unavailable: PUT {CONFIG_PATH} failed after 4 attempts (read timeout)"

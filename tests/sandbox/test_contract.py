"""Every row of the contract's endpoint and error tables, over real HTTP.

The expected values are the contract's (shared/api-contract.md) and the demo
catalog's (planner/catalog.py), written out by hand.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
import requests

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"  # max_context_window 4096, restricted: political
SUMMARIZER = "b2c3d4e5-f6a7-4890-9bcd-ef1234567891"  # max_context_window 8192, nothing restricted
UNKNOWN = "00000000-0000-4000-8000-000000000000"
CONFIG = f"/api/v2/ai/models/{SUPPORT}/configuration"
ERROR_KEYS = {"message", "code", "status", "messageWithParams", "messageParams", "contextId", "details", "errors"}


def assert_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert ERROR_KEYS <= set(body)
    assert (body["status"], body["code"]) == (status, code)
    assert body["contextId"] == response.headers["inin-correlation-id"]
    return body


# --- authentication ---------------------------------------------------------------


def test_a_token_comes_from_basic_auth_client_credentials(sandbox: Any) -> None:
    response = requests.post(
        f"{sandbox.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=("sandbox", "sandbox-secret"), timeout=5
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86400
    assert len(body["access_token"]) >= 32
    assert response.headers["Cache-Control"] == "no-store"


def test_form_credentials_are_accepted_too(sandbox: Any) -> None:
    response = requests.post(
        f"{sandbox.url}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "sandbox", "client_secret": "sandbox-secret"},
        timeout=5,
    )
    assert response.status_code == 200
    token = response.json()["access_token"]
    model = requests.get(f"{sandbox.url}/api/v2/ai/models/{SUPPORT}", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert model.status_code == 200


@pytest.mark.parametrize(
    "auth",
    [
        ("sandbox", "wrong-secret"),  # right client, wrong secret
        ("nobody", "sandbox-secret"),  # unknown client
        ("", ""),  # empty credentials
    ],
)
def test_bad_credentials_get_401_invalid_client(sandbox: Any, auth: tuple[str, str]) -> None:
    response = requests.post(f"{sandbox.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=auth, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "sandbox-secret" not in response.text


def test_a_token_request_without_credentials_gets_401(sandbox: Any) -> None:
    response = requests.post(f"{sandbox.url}/oauth/token", data={"grant_type": "client_credentials"}, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_a_grant_other_than_client_credentials_gets_400(sandbox: Any) -> None:
    response = requests.post(f"{sandbox.url}/oauth/token", data={"grant_type": "password"}, auth=("sandbox", "sandbox-secret"), timeout=5)
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_a_json_token_request_gets_400_invalid_request(sandbox: Any) -> None:
    response = requests.post(f"{sandbox.url}/oauth/token", json={"grant_type": "client_credentials"}, auth=("sandbox", "sandbox-secret"), timeout=5)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_custom_clients_and_token_lifetime(make_sandbox: Callable[..., Any]) -> None:
    from planner.sandbox import ClientSpec

    sandbox = make_sandbox(clients={"ci": ClientSpec("ci-secret", {"ai:models:read"})}, token_lifetime_seconds=600)
    default = requests.post(f"{sandbox.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=("sandbox", "sandbox-secret"), timeout=5)
    assert default.status_code == 401  # only the configured clients exist
    custom = requests.post(f"{sandbox.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=("ci", "ci-secret"), timeout=5)
    assert custom.status_code == 200
    assert custom.json()["expires_in"] == 600


def test_client_secrets_never_show_in_a_repr() -> None:
    from planner.sandbox import ClientSpec

    assert "hush" not in repr(ClientSpec("hush"))


# --- 401 / 403 ----------------------------------------------------------------------


def test_no_token_gets_401_bad_credentials(sandbox: Any) -> None:
    response = requests.get(f"{sandbox.url}/api/v2/ai/models", timeout=5)
    assert_error(response, 401, "bad.credentials")


def test_an_unknown_token_gets_401(sandbox: Any) -> None:
    response = requests.get(f"{sandbox.url}/api/v2/ai/models", headers={"Authorization": "Bearer not-a-token"}, timeout=5)
    body = assert_error(response, 401, "bad.credentials")
    assert "not valid" in body["message"]


def test_an_expired_token_gets_401(make_sandbox: Callable[..., Any], make_api: Callable[..., Any], clock: Any) -> None:
    sandbox = make_sandbox(clock=clock, token_lifetime_seconds=300)
    api = make_api(sandbox)
    assert api.get(f"/api/v2/ai/models/{SUPPORT}").status_code == 200
    clock.advance(299)
    assert api.get(f"/api/v2/ai/models/{SUPPORT}").status_code == 200
    clock.advance(1)
    body = assert_error(api.get(f"/api/v2/ai/models/{SUPPORT}"), 401, "bad.credentials")
    assert "expired" in body["message"]


def test_revoked_tokens_get_401(sandbox: Any, api: Any) -> None:
    assert requests.delete(f"{sandbox.url}/__sandbox/tokens", timeout=5).json() == {"revoked": 1}
    assert_error(api.get(f"/api/v2/ai/models/{SUPPORT}"), 401, "bad.credentials")


def test_a_read_only_client_reads_but_cannot_put(sandbox: Any, make_api: Callable[..., Any], valid_config: Callable[..., dict[str, Any]]) -> None:
    reader = make_api(sandbox, "sandbox-readonly", "sandbox-readonly-secret")
    assert reader.get("/api/v2/ai/models").status_code == 200
    body = assert_error(reader.put_config(SUPPORT, valid_config()), 403, "missing.any.permissions")
    assert "ai:llm:manage" in body["message"]
    assert reader.get(CONFIG).status_code == 404  # the refused PUT changed nothing


# --- GET /api/v2/ai/models/{id} -------------------------------------------------------


def test_a_model_has_id_name_capabilities_and_self_uri(api: Any) -> None:
    response = api.get(f"/api/v2/ai/models/{SUPPORT}")
    assert response.status_code == 200
    assert response.json() == {
        "id": SUPPORT,
        "name": "claude-support",
        "capabilities": {"max_context_window": 4096, "restricted_safety_filters": ["political"]},
        "selfUri": f"/api/v2/ai/models/{SUPPORT}",
    }


def test_an_unknown_model_gets_404(api: Any) -> None:
    body = assert_error(api.get(f"/api/v2/ai/models/{UNKNOWN}"), 404, "not.found")
    assert UNKNOWN in body["message"]


def test_model_ids_are_matched_case_insensitively(api: Any) -> None:
    assert api.get(f"/api/v2/ai/models/{SUPPORT.upper()}").json()["id"] == SUPPORT


# --- GET / PUT configuration -------------------------------------------------------------


def test_a_model_never_configured_has_no_configuration(api: Any) -> None:
    body = assert_error(api.get(CONFIG), 404, "not.found")
    assert "no configuration" in body["message"]


def test_an_accepted_put_returns_and_stores_the_configuration_at_version_1(api: Any, valid_config: Callable[..., dict[str, Any]]) -> None:
    response = api.put_config(SUPPORT, valid_config())
    assert response.status_code == 200
    applied = response.json()
    assert applied["model_id"] == SUPPORT
    assert applied["temperature_matrix"] == {"default": 0.7, "creative": 1.2, "precise": 0.3}
    assert applied["safety_filters"] == [{"filter_type": "pii", "action": "redact", "threshold": 85}]
    assert (applied["max_tokens"], applied["compliance_mode"], applied["version"]) == (2048, "strict", 1)
    assert applied["selfUri"] == CONFIG
    assert applied["modifiedDate"].endswith("Z") and len(applied["modifiedDate"]) == len("2026-11-24T10:00:00.000Z")
    assert api.get(CONFIG).json() == applied


def test_every_accepted_put_increments_the_version(api: Any, valid_config: Callable[..., dict[str, Any]]) -> None:
    versions = [api.put_config(SUPPORT, valid_config(max_tokens=1000 + n)).json()["version"] for n in range(3)]
    assert versions == [1, 2, 3]
    assert api.get(CONFIG).json()["max_tokens"] == 1002


def test_compliance_mode_defaults_to_standard(api: Any, valid_config: Callable[..., dict[str, Any]]) -> None:
    config = valid_config()
    del config["compliance_mode"]
    assert api.put_config(SUPPORT, config).json()["compliance_mode"] == "standard"


def test_read_only_fields_are_ignored_and_a_matching_version_is_accepted(api: Any, valid_config: Callable[..., dict[str, Any]]) -> None:
    first = api.put_config(SUPPORT, valid_config(version=0)).json()  # 0: "never configured"
    assert first["version"] == 1
    second = api.put_config(SUPPORT, valid_config(version=1, modifiedDate="1999-01-01T00:00:00.000Z", selfUri="/elsewhere")).json()
    assert second["version"] == 2
    assert second["modifiedDate"] != "1999-01-01T00:00:00.000Z"
    assert second["selfUri"] == CONFIG


def test_a_put_to_an_unknown_model_gets_404(api: Any, valid_config: Callable[..., dict[str, Any]]) -> None:
    assert_error(api.put_config(UNKNOWN, valid_config(model_id=UNKNOWN)), 404, "not.found")


# --- 400: every violation listed -----------------------------------------------------------


def test_a_put_breaking_many_rules_lists_every_violation_with_its_field(api: Any, valid_config: Callable[..., dict[str, Any]]) -> None:
    config = valid_config(
        temperature_matrix={"default": 1.5, "creative": 1.2, "precise": 0.3},  # default over 1
        safety_filters=[
            {"filter_type": "political", "action": "block", "threshold": 50},  # restricted on this model
            {"filter_type": "pii", "action": "redact", "threshold": 150},  # threshold over 100
        ],
        max_tokens=5000,  # over max_context_window 4096
        compliance_mode="lenient",  # not an allowed mode
    )
    body = assert_error(api.put_config(SUPPORT, config), 400, "bad.request")
    fields = sorted(detail["fieldName"] for error in body["errors"] for detail in error["details"])
    assert fields == [
        "compliance_mode",
        "max_tokens",
        "safety_filters[0].action",
        "safety_filters[1].threshold",
        "temperature_matrix.default",
    ]
    assert all(error["code"] == "bad.request" and error["status"] == 400 for error in body["errors"])
    assert "5000" in body["message"] and "4096" in body["message"]
    assert api.get(CONFIG).status_code == 404  # nothing was stored


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"model_id": SUMMARIZER}, "model_id"),  # another model's id
        ({"safety_filters": []}, "safety_filters"),  # at least one filter
        ({"max_tokens": 0}, "max_tokens"),  # below 1
        ({"max_tokens": 2048.5}, "max_tokens"),  # not an integer
        ({"temperature_matrix": {"default": 0.5, "creative": 1.0}}, "temperature_matrix"),  # precise missing
        ({"temperature_matrix": {"default": 0.5, "creative": 1.6, "precise": 0.3}}, "temperature_matrix.creative"),  # over 1.5
        ({"temperature_matrix": {"default": 0.5, "creative": 1.0, "precise": 0.6}}, "temperature_matrix.precise"),  # over 0.5
        ({"safety_filters": [{"filter_type": "spam", "action": "flag", "threshold": 1}]}, "safety_filters[0].filter_type"),
        ({"safety_filters": [{"filter_type": "pii", "action": "delete", "threshold": 1}]}, "safety_filters[0].action"),
        ({"safety_filters": [{"filter_type": "pii", "action": "flag", "threshold": -1}]}, "safety_filters[0].threshold"),
        (
            {"safety_filters": [{"filter_type": "pii", "action": "flag", "threshold": 1}, {"filter_type": "pii", "action": "redact", "threshold": 2}]},
            "safety_filters[1].filter_type",  # the same filter type twice
        ),
        ({"colour": "blue"}, "colour"),  # unknown key
        ({"version": "4"}, "version"),  # a version must be a number
    ],
)
def test_each_rule_is_enforced_by_the_server(
    api: Any, valid_config: Callable[..., dict[str, Any]], changes: dict[str, Any], field: str
) -> None:
    body = assert_error(api.put_config(SUPPORT, valid_config(**changes)), 400, "bad.request")
    assert field in [detail["fieldName"] for error in body["errors"] for detail in error["details"]]


def test_a_missing_required_field_is_named(api: Any, valid_config: Callable[..., dict[str, Any]]) -> None:
    config = valid_config()
    del config["max_tokens"]
    body = assert_error(api.put_config(SUPPORT, config), 400, "bad.request")
    assert "max_tokens" in body["message"]


def test_a_restricted_filter_may_redact_or_flag(api: Any, valid_config: Callable[..., dict[str, Any]]) -> None:
    config = valid_config(safety_filters=[{"filter_type": "political", "action": "flag", "threshold": 40}], max_tokens=4096)
    assert api.put_config(SUPPORT, config).status_code == 200


def test_a_body_that_is_not_an_object_gets_400(api: Any) -> None:
    assert_error(api.put(CONFIG, json=[1, 2, 3]), 400, "bad.request")


# --- 409 -----------------------------------------------------------------------------------------


def test_a_stale_version_gets_409_and_changes_nothing(api: Any, valid_config: Callable[..., dict[str, Any]]) -> None:
    api.put_config(SUPPORT, valid_config())
    stored = api.put_config(SUPPORT, valid_config(max_tokens=1024)).json()  # version 2
    body = assert_error(api.put_config(SUPPORT, valid_config(max_tokens=512, version=1)), 409, "conflict")
    assert "version 1" in body["message"] and "current version 2" in body["message"]
    assert api.get(CONFIG).json() == stored


def test_a_version_on_a_model_never_configured_must_be_0(api: Any, valid_config: Callable[..., dict[str, Any]]) -> None:
    assert_error(api.put_config(SUPPORT, valid_config(version=3)), 409, "conflict")
    assert api.get(CONFIG).status_code == 404


# --- 429 and 503 (the error table's last rows) -----------------------------------------------------


def test_over_the_budget_gets_429_with_retry_after(make_sandbox: Callable[..., Any], make_api: Callable[..., Any]) -> None:
    sandbox = make_sandbox(rate_limit=3)
    api = make_api(sandbox)
    assert [api.get(f"/api/v2/ai/models/{SUPPORT}").status_code for _ in range(3)] == [200, 200, 200]
    response = api.get(f"/api/v2/ai/models/{SUPPORT}")
    assert_error(response, 429, "too.many.requests")
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_maintenance_is_503_service_unavailable(sandbox: Any, api: Any) -> None:
    requests.post(f"{sandbox.url}/__sandbox/faults", json={"rules": [{"effect": "status", "status": 503}]}, timeout=5).raise_for_status()
    assert_error(api.get(f"/api/v2/ai/models/{SUPPORT}"), 503, "service.unavailable")


def test_a_correlation_id_sent_by_the_client_is_echoed(api: Any) -> None:
    response = api.get(f"/api/v2/ai/models/{UNKNOWN}", headers={"inin-correlation-id": "trace-123"})
    assert response.headers["inin-correlation-id"] == "trace-123"
    assert response.json()["contextId"] == "trace-123"

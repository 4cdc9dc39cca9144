"""The /__sandbox/ endpoints: seeding models, drift, the request log, the webhook receiver."""

from __future__ import annotations

import json
from typing import Any, Callable

import requests

from planner.sandbox.app import Request

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
NEW = "12345678-1234-4234-8234-123456789abc"
CONFIG = f"/api/v2/ai/models/{SUPPORT}/configuration"


def admin(sandbox: Any, method: str, path: str, **options: Any) -> requests.Response:
    return requests.request(method, f"{sandbox.url}/__sandbox{path}", timeout=5, **options)


def new_model(**extra: Any) -> dict[str, Any]:
    return {"id": NEW, "name": "tiny-classifier", "capabilities": {"max_context_window": 1024, "restricted_safety_filters": ["pii"]}, **extra}


# --- seeding models -------------------------------------------------------------------------


def test_a_seeded_model_is_served_by_the_api(sandbox: Any, api: Any) -> None:
    response = admin(sandbox, "POST", "/models", json={"models": [new_model()]})
    assert response.status_code == 200
    assert response.json()["models"][0]["name"] == "tiny-classifier"
    assert api.get(f"/api/v2/ai/models/{NEW}").json() == {
        "id": NEW,
        "name": "tiny-classifier",
        "capabilities": {"max_context_window": 1024, "restricted_safety_filters": ["pii"]},
        "selfUri": f"/api/v2/ai/models/{NEW}",
    }
    assert api.get("/api/v2/ai/models").json()["total"] == 7


def test_a_seeded_configuration_is_validated_against_the_new_capabilities(sandbox: Any, api: Any, valid_config: Callable[..., dict[str, Any]]) -> None:
    fits = valid_config(model_id=NEW, max_tokens=1024, safety_filters=[{"filter_type": "pii", "action": "redact", "threshold": 1}])
    assert admin(sandbox, "POST", "/models", json={"models": [new_model(configuration=fits)]}).status_code == 200
    assert api.get(f"/api/v2/ai/models/{NEW}/configuration").json()["version"] == 1

    # Well formed, but over this model's capabilities: a conflict with the model (409), not a bad body (400).
    too_big = {**fits, "max_tokens": 2048, "safety_filters": [{"filter_type": "pii", "action": "block", "threshold": 1}]}
    refused = admin(sandbox, "POST", "/models", json={"models": [new_model(configuration=too_big)]})
    assert (refused.status_code, refused.json()["code"]) == (409, "conflict")
    fields = sorted(d["fieldName"] for e in refused.json()["errors"] for d in e["details"])
    assert fields == ["models[0].configuration.max_tokens", "models[0].configuration.safety_filters[0].action"]


def test_seeding_is_all_or_nothing(sandbox: Any, api: Any) -> None:
    broken = {"id": "not-a-uuid", "name": "", "capabilities": {}}
    response = admin(sandbox, "POST", "/models", json={"models": [new_model(), broken]})
    assert response.status_code == 400
    fields = sorted(d["fieldName"] for e in response.json()["errors"] for d in e["details"])
    assert fields == ["models[1].capabilities", "models[1].id", "models[1].name"]
    assert api.get(f"/api/v2/ai/models/{NEW}").status_code == 404


def test_replacing_a_model_keeps_its_configuration_unless_told(sandbox: Any, api: Any, valid_config: Callable[..., dict[str, Any]]) -> None:
    api.put_config(SUPPORT, valid_config())
    renamed = {"id": SUPPORT, "name": "claude-support-v2", "capabilities": {"max_context_window": 8192}}
    admin(sandbox, "POST", "/models", json={"models": [renamed]})
    assert api.get(f"/api/v2/ai/models/{SUPPORT}").json()["name"] == "claude-support-v2"
    assert api.get(CONFIG).json()["version"] == 1
    admin(sandbox, "POST", "/models", json={"models": [{**renamed, "configuration": None}]})
    assert api.get(CONFIG).status_code == 404


def test_a_deleted_model_is_gone(sandbox: Any, api: Any) -> None:
    assert admin(sandbox, "DELETE", f"/models/{SUPPORT}").json() == {"deleted": SUPPORT}
    assert api.get(f"/api/v2/ai/models/{SUPPORT}").status_code == 404
    assert admin(sandbox, "DELETE", f"/models/{SUPPORT}").status_code == 404


# --- drift: an out-of-band change --------------------------------------------------------------


def test_a_patch_merges_bumps_the_version_and_is_seen_by_the_api(sandbox: Any, api: Any, valid_config: Callable[..., dict[str, Any]]) -> None:
    applied = api.put_config(SUPPORT, valid_config()).json()
    response = admin(sandbox, "PATCH", f"/models/{SUPPORT}/configuration", json={"temperature_matrix": {"default": 0.9}, "version": 99})
    assert response.status_code == 200
    drifted = api.get(CONFIG).json()
    assert drifted == response.json()
    assert drifted["temperature_matrix"] == {"default": 0.9, "creative": 1.2, "precise": 0.3}
    assert drifted["version"] == 2  # bumped by one; a sent version is ignored
    assert drifted["modifiedDate"] >= applied["modifiedDate"]
    assert {k: v for k, v in drifted.items() if k not in ("temperature_matrix", "version", "modifiedDate")} == {
        k: v for k, v in applied.items() if k not in ("temperature_matrix", "version", "modifiedDate")
    }
    # The planner's stale write now conflicts, as on the real gateway.
    assert api.put_config(SUPPORT, valid_config(version=1)).status_code == 409


def test_a_patch_over_the_models_capabilities_gets_409_and_changes_nothing(sandbox: Any, api: Any, valid_config: Callable[..., dict[str, Any]]) -> None:
    applied = api.put_config(SUPPORT, valid_config()).json()
    response = admin(sandbox, "PATCH", f"/models/{SUPPORT}/configuration", json={"max_tokens": 5000})  # the schema allows 8192
    assert (response.status_code, response.json()["code"]) == (409, "conflict")
    assert response.json()["errors"][0]["details"] == [{"fieldName": "max_tokens"}]
    assert api.get(CONFIG).json() == applied


def test_a_patch_that_breaks_the_schema_gets_400_naming_each_field(sandbox: Any, api: Any, valid_config: Callable[..., dict[str, Any]]) -> None:
    applied = api.put_config(SUPPORT, valid_config()).json()
    response = admin(sandbox, "PATCH", f"/models/{SUPPORT}/configuration", json={"max_tokens": 9000, "colour": "blue", "temperature_matrix": {"default": 2}})
    assert response.status_code == 400
    fields = sorted(d["fieldName"] for e in response.json()["errors"] for d in e["details"])
    assert fields == ["colour", "max_tokens", "temperature_matrix.default"]
    assert api.get(CONFIG).json() == applied


def test_a_patch_can_create_a_first_configuration_when_complete(sandbox: Any, api: Any, valid_config: Callable[..., dict[str, Any]]) -> None:
    partial = admin(sandbox, "PATCH", f"/models/{SUPPORT}/configuration", json={"max_tokens": 100})
    assert (partial.status_code, partial.json()["code"]) == (409, "conflict")  # well formed; the model has nothing to merge into
    assert "no configuration yet" in partial.json()["message"]
    complete = admin(sandbox, "PATCH", f"/models/{SUPPORT}/configuration", json=valid_config())
    assert complete.status_code == 200
    assert complete.json()["version"] == 1


def test_a_patch_of_an_unknown_model_gets_404(sandbox: Any) -> None:
    assert admin(sandbox, "PATCH", f"/models/{NEW}/configuration", json={"max_tokens": 1}).status_code == 404


# --- the request log ------------------------------------------------------------------------------


def test_the_request_log_records_api_and_token_requests_only(sandbox: Any, api: Any) -> None:
    api.get(f"/api/v2/ai/models/{SUPPORT}?x=1", headers={"inin-correlation-id": "corr-1"})
    requests.get(f"{sandbox.url}/api/v2/ai/models", timeout=5)  # no token
    admin(sandbox, "GET", "/faults")
    log = admin(sandbox, "GET", "/requests").json()["requests"]
    assert [(e["method"], e["path"], e["status"], e["client_id"]) for e in log] == [
        ("POST", "/oauth/token", 200, "sandbox"),
        ("GET", f"/api/v2/ai/models/{SUPPORT}", 200, "sandbox"),
        ("GET", "/api/v2/ai/models", 401, None),
    ]
    assert log[1]["query"] == "x=1"
    assert log[1]["correlation_id"] == "corr-1"
    assert log[1]["time"].endswith("Z")
    assert admin(sandbox, "DELETE", "/requests").json() == {"cleared": 3}
    assert admin(sandbox, "GET", "/requests").json() == {"requests": []}


def test_the_log_never_holds_the_secret_or_the_token(sandbox: Any, api: Any) -> None:
    api.get(f"/api/v2/ai/models/{SUPPORT}")
    text = admin(sandbox, "GET", "/requests").text
    assert "sandbox-secret" not in text
    assert api.token not in text


# --- the webhook receiver -----------------------------------------------------------------------------


def test_the_webhook_receiver_records_headers_parsed_body_and_raw_text(sandbox: Any) -> None:
    payload = b'{"event_type": "llm_config_change", "n": 1}'
    response = requests.post(
        f"{sandbox.url}/__sandbox/webhook?source=test",
        data=payload,
        headers={"Content-Type": "application/json", "X-Signature": "sha256=abc"},
        timeout=5,
    )
    assert response.json() == {"received": True}
    requests.post(f"{sandbox.url}/__sandbox/webhook", data=b"plain words", headers={"Content-Type": "text/plain"}, timeout=5)
    deliveries = admin(sandbox, "GET", "/webhook").json()["deliveries"]
    assert deliveries[0]["body"] == {"event_type": "llm_config_change", "n": 1}
    assert deliveries[0]["raw"] == payload.decode()
    assert deliveries[0]["headers"]["X-Signature"] == "sha256=abc"
    assert deliveries[0]["query"] == "source=test"
    assert deliveries[1]["body"] == "plain words"
    assert admin(sandbox, "DELETE", "/webhook").json() == {"cleared": 2}
    assert admin(sandbox, "GET", "/webhook").json() == {"deliveries": []}


def test_invalid_json_sent_to_the_webhook_is_kept_as_text(sandbox: Any) -> None:
    requests.post(f"{sandbox.url}/__sandbox/webhook", data=b"{broken", headers={"Content-Type": "application/json"}, timeout=5)
    assert admin(sandbox, "GET", "/webhook").json()["deliveries"][0]["body"] == "{broken"


# --- access ---------------------------------------------------------------------------------------------


def test_the_admin_endpoints_answer_loopback_clients_only(sandbox: Any) -> None:
    remote = sandbox.app.handle(Request(method="GET", path="/__sandbox/requests", client_host="192.0.2.10"))
    assert remote.status == 403
    assert "loopback" in json.loads(remote.body)["message"]
    ipv6_local = sandbox.app.handle(Request(method="GET", path="/__sandbox/requests", client_host="::1"))
    assert ipv6_local.status == 200


def test_health_says_ok_and_counts_models(make_sandbox: Callable[..., Any]) -> None:
    sandbox = make_sandbox(extra_models=10)
    assert admin(sandbox, "GET", "/health").json() == {"status": "ok", "models": 16}

"""The typed calls against the real sandbox over HTTP: paging, capabilities, configurations, errors."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from planner.adapters.gateway.client import GatewayModel
from planner.model.catalog import DEMO_MODELS
from planner.model.configuration import Capabilities
from planner.model.errors import BadRequest, InvalidModelId, NotFound, PermissionDenied, VersionConflict

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"  # max_context_window 4096, political restricted
UNKNOWN = "00000000-0000-4000-8000-000000000000"


def configuration(model_id: str = SUPPORT, **changes: Any) -> dict[str, Any]:
    config = {
        "model_id": model_id,
        "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.3},
        "safety_filters": [{"filter_type": "pii", "action": "redact", "threshold": 85}],
        "max_tokens": 2048,
        "compliance_mode": "strict",
    }
    config.update(changes)
    return config


def test_list_models_follows_every_page(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    client = make_client(gateway)
    models = client.list_models(page_size=4)
    assert [model.id for model in models] == [model["id"] for model in DEMO_MODELS]
    assert models[0] == GatewayModel(SUPPORT, "claude-support", Capabilities(4096, frozenset({"political"})), None)
    pages = admin.requests(path_contains="/api/v2/ai/models", method="GET")
    assert [entry["query"] for entry in pages] == [
        "pageSize=4&pageNumber=1&expand=configuration",
        "pageSize=4&pageNumber=2&expand=configuration",
    ]


def test_expanded_listing_carries_the_current_configuration(gateway: Any, make_client: Callable[..., Any]) -> None:
    client = make_client(gateway)
    applied = client.put_configuration(SUPPORT, configuration(), expected_version=None)
    listed = {model.id: model for model in client.list_models()}
    assert listed[SUPPORT].configuration == applied
    assert listed["b2c3d4e5-f6a7-4890-9bcd-ef1234567891"].configuration is None  # never configured
    unexpanded = {model.id: model for model in client.list_models(expand_configuration=False)}
    assert unexpanded[SUPPORT].configuration is None


def test_get_model_reports_capabilities(gateway: Any, make_client: Callable[..., Any]) -> None:
    model = make_client(gateway).get_model("C3D4E5F6-A7B8-4901-8CDE-F12345678902")  # upper case is still a UUID
    assert model.name == "llama-intent-router"
    assert model.capabilities == Capabilities(2048, frozenset({"political", "profanity"}))
    assert model.configuration is None


def test_a_never_configured_model_has_no_configuration_but_an_unknown_model_is_not_found(gateway: Any, make_client: Callable[..., Any]) -> None:
    client = make_client(gateway)
    assert client.get_configuration(SUPPORT) is None
    with pytest.raises(NotFound, match=UNKNOWN):
        client.get_configuration(UNKNOWN)


def test_put_returns_the_applied_configuration_and_each_put_bumps_the_version(gateway: Any, make_client: Callable[..., Any]) -> None:
    client = make_client(gateway)
    first = client.put_configuration(SUPPORT, configuration(), expected_version=None)
    assert first["version"] == 1
    assert {key: first[key] for key in configuration()} == configuration()
    # Read-only fields in what we send are dropped; the expected version is what counts.
    second = client.put_configuration(SUPPORT, {**first, "max_tokens": 1024, "version": 99}, expected_version=1)
    assert (second["version"], second["max_tokens"]) == (2, 1024)
    assert client.get_configuration(SUPPORT) == second


def test_a_stale_expected_version_is_a_conflict_and_is_never_retried(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    client = make_client(gateway)
    client.put_configuration(SUPPORT, configuration(), expected_version=None)
    client.put_configuration(SUPPORT, configuration(max_tokens=1000), expected_version=1)
    with pytest.raises(VersionConflict) as caught:
        client.put_configuration(SUPPORT, configuration(max_tokens=500), expected_version=1)
    assert caught.value.status == 409 and caught.value.code == "conflict"
    assert caught.value.context_id
    assert len(admin.requests(path_contains="/configuration", method="PUT")) == 3
    assert client.get_configuration(SUPPORT)["max_tokens"] == 1000  # nothing changed


def test_a_refused_configuration_lists_every_violation(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    client = make_client(gateway)
    bad = configuration(max_tokens=5000, safety_filters=[{"filter_type": "political", "action": "block", "threshold": 10}])
    with pytest.raises(BadRequest) as caught:
        client.put_configuration(SUPPORT, bad, expected_version=None)
    error = caught.value
    fields = sorted(detail["fieldName"] for entry in error.errors for detail in entry["details"])
    assert fields == ["max_tokens", "safety_filters[0].action"]
    message = str(error)
    assert "2 field violations" in message
    assert "max_tokens" in message and "safety_filters[0].action" in message
    assert len(admin.requests(method="PUT")) == 1  # a 400 is final


def test_a_client_without_the_manage_scope_is_told_which_scope_it_lacks(gateway: Any, make_client: Callable[..., Any]) -> None:
    client = make_client(gateway, credentials=("sandbox-readonly", "sandbox-readonly-secret"))
    assert client.get_model(SUPPORT).name == "claude-support"  # reading is allowed
    with pytest.raises(PermissionDenied) as caught:
        client.put_configuration(SUPPORT, configuration(), expected_version=None)
    assert "lacks the scope ai:llm:manage" in str(caught.value)
    assert caught.value.status == 403


@pytest.mark.parametrize(
    "model_id",
    [
        "../../oauth/token",
        "a1b2c3d4-e5f6-7890-abcd-ef1234567890/../x",
        "a1b2c3d4e5f67890abcdef1234567890",  # UUID digits without the dashes
        "{a1b2c3d4-e5f6-7890-abcd-ef1234567890}",
        "",
        "a1b2c3d4-e5f6-7890-abcd-ef1234567890?expand=x",
    ],
)
def test_a_model_id_that_is_not_a_uuid_never_reaches_a_url(model_id: str, gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    client = make_client(gateway)
    for call in (client.get_model, client.get_configuration, lambda i: client.put_configuration(i, configuration(), None)):
        with pytest.raises(InvalidModelId, match="is not a UUID"):
            call(model_id)
    assert admin.requests() == []  # not even a token was fetched


def test_requests_carry_one_correlation_id_per_call(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    client = make_client(gateway)
    client.get_model(SUPPORT)
    client.get_model(SUPPORT)
    ids = [entry["correlation_id"] for entry in admin.requests(path_contains="/api/v2/")]
    assert len(ids) == 2 and len(set(ids)) == 2
    assert all(len(value) == 36 for value in ids)  # a UUID each

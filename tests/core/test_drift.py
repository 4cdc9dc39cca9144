"""detect_drift as a table: which side moved (live, YAML, both, never applied),
which fields, and which live models no YAML manages.

Real ``State`` / ``ResourceState`` / ``Environment``; expected values by hand.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping

import pytest

from planner.core.drift import BOTH, CHANGED_OUTSIDE, NEVER_APPLIED, NOT_APPLIED, REMOVED, DriftReport, UnmanagedModel, detect_drift
from planner.model.plan import FieldChange
from planner.model.settings import ApplySettings, Environment, GatewaySettings, ModelFile
from planner.model.state import ResourceState, State

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
TRANSLATOR = "e5f6a7b8-c9d0-4123-8ef0-234567890124"
QUALITY = "f6a7b8c9-d0e1-4234-9f01-345678901235"
APPLIED_AT = "2026-11-24T09:00:00.000Z"

BASE: dict[str, Any] = {
    "model_id": SUPPORT,
    "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.3},
    "safety_filters": [{"filter_type": "pii", "action": "redact", "threshold": 85}],
    "max_tokens": 2048,
    "compliance_mode": "strict",
}


def config(**changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(BASE)
    result.update(changes)
    return result


def live(version: int, configuration: Mapping[str, Any]) -> dict[str, Any]:
    return {**copy.deepcopy(dict(configuration)), "version": version, "modifiedDate": "2026-11-24T10:00:00.000Z", "selfUri": "/x"}


def environment(desired: Mapping[str, Any]) -> Environment:
    model = ModelFile("support-bot", "environments/dev/models/support-bot.yaml", copy.deepcopy(dict(desired)), {})
    return Environment("dev", Path("/p"), Path("/p/environments/dev"), GatewaySettings(sandbox=True), None, ApplySettings(), None, (model,))


def state_with(configuration: Mapping[str, Any] | None, version: int = 4) -> State | None:
    if configuration is None:
        return None
    resource = ResourceState("support-bot", SUPPORT, dict(configuration), version, "0" * 64, APPLIED_AT)
    return State("5b0c1c4e-2d1f-4c53-9a0e-0a6f5f1e2d3c", 2, {"support-bot": resource})


def detect(desired: Mapping[str, Any], live_configs: Mapping[str, Any], applied: Mapping[str, Any] | None, names: Mapping[str, str] | None = None) -> DriftReport:
    return detect_drift(environment(desired), live_configs, names or {}, state_with(applied), created_at="2026-11-25T10:00:00.000Z", tool_version="0.1.0")


# live has nothing, the YAML everything: each field is one the YAML adds (live → YAML)
ALL_FIELDS_ADDED = [
    FieldChange("compliance_mode", None, "strict"),
    FieldChange("max_tokens", None, 2048),
    FieldChange("model_id", None, SUPPORT),
    FieldChange("safety_filters[pii]", None, {"action": "redact", "threshold": 85}),
    FieldChange("temperature_matrix.creative", None, 1.2),
    FieldChange("temperature_matrix.default", None, 0.7),
    FieldChange("temperature_matrix.precise", None, 0.3),
]

KIND_CASES = [
    # YAML, live and state agree: no drift
    pytest.param(config(), live(4, config()), config(), None, [], id="none"),
    # live and YAML agree although state is older (someone applied the same by hand): no drift
    pytest.param(config(max_tokens=1024), live(5, config(max_tokens=1024)), config(), None, [], id="none-live-matches-yaml"),
    # a console edit: live ≠ state, YAML = state
    pytest.param(config(), live(5, config(max_tokens=1024)), config(), CHANGED_OUTSIDE, [FieldChange("max_tokens", 1024, 2048)], id="changed-outside"),
    # a merged but unapplied YAML edit: YAML ≠ state, live = state
    pytest.param(config(max_tokens=1024), live(4, config()), config(), NOT_APPLIED, [FieldChange("max_tokens", 2048, 1024)], id="not-applied"),
    # both moved, in different fields
    pytest.param(
        config(max_tokens=1024),
        live(5, config(compliance_mode="permissive")),
        config(),
        BOTH,
        [FieldChange("compliance_mode", "permissive", "strict"), FieldChange("max_tokens", 2048, 1024)],
        id="both",
    ),
    # llmplan never applied this model and live differs from YAML
    pytest.param(config(), live(1, config(max_tokens=512)), None, NEVER_APPLIED, [FieldChange("max_tokens", 512, 2048)], id="never-applied"),
    # never applied and never configured at all: every YAML field is missing live
    pytest.param(config(), None, None, NEVER_APPLIED, ALL_FIELDS_ADDED, id="never-applied-never-configured"),
    # applied, then the configuration was removed on the gateway: named as such
    pytest.param(config(), None, config(), REMOVED, ALL_FIELDS_ADDED, id="removed-on-the-gateway"),
]


@pytest.mark.parametrize("desired,live_config,applied,kind,changes", KIND_CASES)
def test_drift_kinds(desired: dict[str, Any], live_config: dict[str, Any] | None, applied: dict[str, Any] | None, kind: str | None, changes: list[FieldChange]) -> None:
    report = detect(desired, {SUPPORT: live_config}, applied)
    assert report.total == 1
    if kind is None:
        assert report.drifted == () and not report.has_drift
        return
    (item,) = report.drifted
    assert report.has_drift
    assert (item.address, item.model_id, item.kind) == ("support-bot", SUPPORT, kind)
    assert list(item.changes) == changes  # live → YAML, as a plan reads
    assert item.live_version == (live_config or {}).get("version")
    if applied is None:
        assert (item.applied_at, item.state_version, item.last_applied) == (None, None, None)
    else:
        assert (item.applied_at, item.state_version) == (APPLIED_AT, 4)
        assert item.last_applied is not None and item.last_applied["max_tokens"] == applied["max_tokens"]


def test_unmanaged_live_models_are_listed_but_are_not_drift() -> None:
    live_configs = {
        SUPPORT: live(4, config()),
        TRANSLATOR: live(3, config(model_id=TRANSLATOR)),  # configured by hand, in no YAML file
        QUALITY: None,  # never configured: nothing to adopt
    }
    report = detect(config(), live_configs, config(), names={TRANSLATOR: "gemini-translate", QUALITY: "claude-quality-review"})
    assert report.unmanaged == (UnmanagedModel(TRANSLATOR, "gemini-translate", 3),)
    assert report.drifted == ()
    assert not report.has_drift


def test_the_report_keeps_every_file_and_the_state_for_its_json() -> None:
    """drift --format json carries Terraform's configuration and prior_state, drift or not."""
    report = detect(config(max_tokens=1024), {SUPPORT: live(5, config(max_tokens=1024))}, config())
    assert report.drifted == ()
    ((address, file, desired),) = [(m.address, m.file, m.values) for m in report.configuration]
    assert (address, file, desired["max_tokens"]) == ("support-bot", "environments/dev/models/support-bot.yaml", 1024)
    (recorded,) = report.prior_state
    assert (recorded.address, recorded.version, recorded.applied_at, recorded.values["max_tokens"]) == ("support-bot", 4, APPLIED_AT, 2048)
    assert detect(config(), {SUPPORT: live(1, config())}, None).prior_state == ()


def test_an_unmanaged_model_without_a_name_is_listed_by_id() -> None:
    report = detect(config(), {SUPPORT: live(4, config()), TRANSLATOR: live(1, config(model_id=TRANSLATOR))}, config())
    assert report.unmanaged == (UnmanagedModel(TRANSLATOR, TRANSLATOR, 1),)


def test_a_state_record_of_another_model_at_the_address_counts_as_never_applied() -> None:
    # the file's model_id was changed to another model since the last apply
    other = config(model_id=TRANSLATOR)
    resource = ResourceState("support-bot", TRANSLATOR, other, 9, "0" * 64, APPLIED_AT)
    st = State("5b0c1c4e-2d1f-4c53-9a0e-0a6f5f1e2d3c", 2, {"support-bot": resource})
    report = detect_drift(environment(config()), {SUPPORT: live(1, config(max_tokens=100))}, {}, st, created_at="t", tool_version="0.1.0")
    assert [(d.kind, d.state_version) for d in report.drifted] == [(NEVER_APPLIED, None)]


def test_reordered_filters_and_integral_floats_live_are_not_drift() -> None:
    desired = config(
        temperature_matrix={"default": 1, "creative": 1, "precise": 0},
        safety_filters=[{"filter_type": "pii", "action": "redact", "threshold": 85}, {"filter_type": "self_harm", "action": "flag", "threshold": 10}],
    )
    now = config(
        temperature_matrix={"default": 1.0, "creative": 1.0, "precise": 0.0},
        safety_filters=[{"filter_type": "self_harm", "action": "flag", "threshold": 10.0}, {"filter_type": "pii", "action": "redact", "threshold": 85}],
    )
    assert detect(desired, {SUPPORT: live(2, now)}, desired).drifted == ()

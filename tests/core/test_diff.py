"""normalize / configuration_hash / diff_configurations, as tables of cases."""

from __future__ import annotations

import copy

import pytest

from planner.core.diff import configuration_hash, diff_configurations, same_payload, to_payload
from planner.model.plan import FieldChange

BASE = {
    "model_id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
    "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.3},
    "safety_filters": [
        {"filter_type": "pii", "action": "redact", "threshold": 85},
        {"filter_type": "self_harm", "action": "block", "threshold": 10},
    ],
    "max_tokens": 2048,
    "compliance_mode": "strict",
}


def variant(**changes: object) -> dict:
    config = copy.deepcopy(BASE)
    config.update(changes)
    return config


EQUAL_CASES = [
    # reordering the safety filters is not a change: they are a set keyed by filter_type
    (variant(safety_filters=list(reversed(BASE["safety_filters"]))), "reorder-only"),
    # 1 and 1.0 are the same number
    (variant(temperature_matrix={"default": 1, "creative": 1.2, "precise": 0.3}), "int"),
    # the gateway's read-only bookkeeping never takes part
    (variant(version=7, modifiedDate="2026-11-24T10:00:00.000Z", selfUri="/api/v2/ai/models/x/configuration"), "read-only"),
    # model ids compare case-insensitively (UUIDs)
    (variant(model_id="A1B2C3D4-E5F6-7890-ABCD-EF1234567890"), "uuid case"),
    # a field a future API version adds does not make every plan an update
    (variant(top_p=0.9), "unknown live field"),
]


@pytest.mark.parametrize("other,label", EQUAL_CASES, ids=[label for _, label in EQUAL_CASES])
def test_configurations_that_mean_the_same_are_equal(other: dict, label: str) -> None:
    left = variant(temperature_matrix={"default": 1.0, "creative": 1.2, "precise": 0.3}) if label == "int" else BASE
    assert configuration_hash(left) == configuration_hash(other)
    assert same_payload(to_payload(left), to_payload(other))  # what the plan decides no-op by
    assert diff_configurations(left, other) == ()


def test_default_compliance_mode_is_filled_in_before_comparing() -> None:
    without = {key: value for key, value in BASE.items() if key != "compliance_mode"}
    assert diff_configurations(without, variant(compliance_mode="standard")) == ()
    assert diff_configurations(without, BASE) == (FieldChange("compliance_mode", "standard", "strict"),)


CHANGE_CASES = [
    # a filter's threshold moves
    (
        variant(safety_filters=[{"filter_type": "pii", "action": "redact", "threshold": 90}, BASE["safety_filters"][1]]),
        [FieldChange("safety_filters[pii].threshold", 85, 90)],
    ),
    # a filter is added (shown whole, keyed by its type)
    (
        variant(safety_filters=[*BASE["safety_filters"], {"filter_type": "political", "action": "flag", "threshold": 60}]),
        [FieldChange("safety_filters[political]", None, {"action": "flag", "threshold": 60})],
    ),
    # a filter is removed
    (
        variant(safety_filters=[BASE["safety_filters"][0]]),
        [FieldChange("safety_filters[self_harm]", {"action": "block", "threshold": 10}, None)],
    ),
    # two fields at once, sorted by path
    (
        variant(max_tokens=1024, temperature_matrix={"default": 0.7, "creative": 1.0, "precise": 0.3}),
        [FieldChange("max_tokens", 2048, 1024), FieldChange("temperature_matrix.creative", 1.2, 1)],
    ),
    # an action changes
    (
        variant(safety_filters=[BASE["safety_filters"][0], {"filter_type": "self_harm", "action": "flag", "threshold": 10}]),
        [FieldChange("safety_filters[self_harm].action", "block", "flag")],
    ),
]


@pytest.mark.parametrize("after,expected", CHANGE_CASES)
def test_field_level_changes_have_readable_paths(after: dict, expected: list[FieldChange]) -> None:
    assert list(diff_configurations(BASE, after)) == expected
    assert configuration_hash(BASE) != configuration_hash(after)


def test_a_never_configured_model_lists_every_field_as_added() -> None:
    changes = diff_configurations(None, BASE)
    assert [c.path for c in changes] == [
        "compliance_mode",
        "max_tokens",
        "model_id",
        "safety_filters[pii]",
        "safety_filters[self_harm]",
        "temperature_matrix.creative",
        "temperature_matrix.default",
        "temperature_matrix.precise",
    ]
    assert all(c.kind == "added" for c in changes)
    assert changes[3].after == {"action": "redact", "threshold": 85}


def test_payload_keeps_the_written_filter_order_and_fills_defaults() -> None:
    config = {key: value for key, value in BASE.items() if key != "compliance_mode"}
    config["max_tokens"] = 2048.0
    payload = to_payload(dict(config, version=3))
    assert payload["compliance_mode"] == "standard"
    assert payload["max_tokens"] == 2048 and isinstance(payload["max_tokens"], int)
    assert [f["filter_type"] for f in payload["safety_filters"]] == ["pii", "self_harm"]
    assert "version" not in payload

"""The plain-dict walk reports exactly what deepdiff reports."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.core.diff import _deepdiff_changes, _walk_plain, diff_configurations

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=3),
    st.sampled_from([0.5, 1.5, 0.0, -0.0, 1.0, 2048, 2048.0, float("inf")]),
    st.sampled_from(["", "pii", "strict", "a\nb", "1"]),
)
keys = st.sampled_from(["default", "creative", "precise", "max_tokens", "pii", "action", "threshold", "safety_filters"])
values = st.recursive(scalars | st.lists(scalars, max_size=2), lambda inner: st.dictionaries(keys, inner, max_size=4), max_leaves=12)
documents = st.dictionaries(keys, values, min_size=1, max_size=5)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(documents, documents)
def test_the_walk_and_deepdiff_agree(old: dict[str, Any], new: dict[str, Any]) -> None:
    walked = _walk_plain(old, new, [], [])
    if walked is None:
        return  # a shape the walk leaves to deepdiff (a list somewhere)
    assert tuple(sorted(walked, key=lambda change: change.path)) == _deepdiff_changes(old, new)


def test_a_realistic_update_reads_the_same_through_both() -> None:
    before = {
        "model_id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
        "temperature_matrix": {"default": 0.7, "creative": 1.4, "precise": 0.3},
        "safety_filters": [{"filter_type": "pii", "action": "redact", "threshold": 85}, {"filter_type": "profanity", "action": "block", "threshold": 50}],
        "max_tokens": 1024,
        "compliance_mode": "strict",
    }
    after = {**before, "max_tokens": 2048, "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.3},
             "safety_filters": [{"filter_type": "profanity", "action": "flag", "threshold": 50}, {"filter_type": "self_harm", "action": "block", "threshold": 10}]}
    shown = [(change.path, change.before, change.after) for change in diff_configurations(before, after)]
    assert shown == [
        ("max_tokens", 1024, 2048),
        ("safety_filters[pii]", {"action": "redact", "threshold": 85}, None),
        ("safety_filters[profanity].action", "block", "flag"),
        ("safety_filters[self_harm]", None, {"action": "block", "threshold": 10}),
        ("temperature_matrix.creative", 1.4, 1.2),
    ]


payload_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from([0.5, 1.0, 2.0, -0.0]), st.sampled_from(["a", "1", "true"])) | st.lists(scalars.filter(lambda v: v != float("inf")), max_size=2),
    lambda inner: st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.dictionaries(keys, payload_values, max_size=4), st.dictionaries(keys, payload_values, max_size=4))
def test_same_payload_says_what_equal_canonical_json_says(first: dict[str, Any], second: dict[str, Any]) -> None:
    from planner.core.diff import payload_fingerprint, same_payload, to_payload

    for a, b in ((first, second), (first, first), (first, dict(reversed(list(first.items()))))):
        left, right = to_payload(a), to_payload(b)
        assert same_payload(left, right) == (payload_fingerprint(left) == payload_fingerprint(right))

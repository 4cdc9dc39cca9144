"""The jsonschema-rs fast path never calls valid what python-jsonschema refuses."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner import schemas
from planner.schemas import FastValidator

VALID = {
    "model_id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
    "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.3},
    "safety_filters": [{"filter_type": "pii", "action": "redact", "threshold": 85}],
    "max_tokens": 2048,
    "compliance_mode": "strict",
}

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-10, max_value=10_000),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-10, max_value=10_000),
    st.sampled_from([0.0, 1.0, 1.5, 0.5, 2048.0, 8192.0, 8193.0, 100.0]),
    st.text(max_size=8),
    st.sampled_from(["pii", "block", "redact", "strict", "a1b2c3d4-e5f6-7890-abcd-ef1234567890", "A1B2C3D4-E5F6-7890-ABCD-EF1234567890\n"]),
)
paths = st.sampled_from(
    [
        ("model_id",),
        ("max_tokens",),
        ("compliance_mode",),
        ("temperature_matrix", "default"),
        ("temperature_matrix", "creative"),
        ("temperature_matrix", "precise"),
        ("temperature_matrix", "extra"),
        ("safety_filters", 0, "threshold"),
        ("safety_filters", 0, "action"),
        ("safety_filters", 0, "filter_type"),
        ("unknown",),
    ]
)


def mutate(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    result = copy.deepcopy(document)
    target = result
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return result


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(paths, values), max_size=3))
def test_fast_and_exact_validators_agree(mutations: list[tuple[tuple[Any, ...], Any]]) -> None:
    checker = schemas.validator(schemas.MODEL_CONFIGURATION)
    assert isinstance(checker, FastValidator)
    document = VALID
    for path, value in mutations:
        document = mutate(document, path, value)
    exact = list(checker.full.iter_errors(document))
    assert (list(checker.iter_errors(document)) == []) == (exact == [])


def test_a_whole_number_written_as_a_float_is_not_an_integer_on_the_fast_path() -> None:
    # jsonschema-rs alone accepts 2048.0 as an integer; ours must not
    checker = schemas.validator(schemas.MODEL_CONFIGURATION)
    assert checker.fast.is_valid(mutate(VALID, ("max_tokens",), 2048.0))
    assert not checker.is_valid(mutate(VALID, ("max_tokens",), 2048.0))


def test_a_policy_with_a_remote_reference_never_takes_the_fast_path() -> None:
    checker = schemas.validator_for({"$ref": "https://example.com/policy.json"})
    assert not isinstance(checker, FastValidator)


def test_a_policy_with_integers_behind_any_of_never_takes_the_fast_path() -> None:
    checker = schemas.validator_for({"anyOf": [{"properties": {"max_tokens": {"type": "integer"}}}]})
    assert not isinstance(checker, FastValidator)
    simple = schemas.validator_for({"properties": {"compliance_mode": {"enum": ["strict"]}}})
    assert isinstance(simple, FastValidator)

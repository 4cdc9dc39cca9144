"""The jsonschema-rs fast path never calls valid what python-jsonschema refuses."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.model import schemas
from planner.model.schemas import FastValidator

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


ENVIRONMENT = {
    "gateway": {"region": "us-east-1"},
    "apply": {"parallelism": 10, "max_change_percent": 50},
    "defaults": {"max_tokens": 2048, "temperature_matrix": {"default": 0.5}},
}
STATE = {
    "format_version": 1,
    "tool_version": "0.1.0",
    "lineage": "0b7c2f0e-1f39-4d7e-9d43-6a3a2a0c8f11",
    "serial": 3,
    "resources": {
        "support-bot": {
            "address": "support-bot",
            "model_id": VALID["model_id"],
            "configuration": {key: value for key, value in VALID.items() if key != "model_id"},
            "version": 4,
            "payload_hash": "0" * 64,
            "applied_at": "2026-11-25T10:00:00Z",
        }
    },
}


def test_the_environment_schema_follows_its_references_into_the_model_schema() -> None:
    checker = schemas.validator(schemas.ENVIRONMENT)
    assert isinstance(checker, FastValidator)  # was python-jsonschema alone: its cross-file $ref stopped the fast path
    assert checker.is_valid(ENVIRONMENT)
    for path in (("apply", "parallelism"), ("defaults", "max_tokens")):
        whole_float = mutate(ENVIRONMENT, path, 10.0)
        assert not checker.is_valid(whole_float), path
    assert not checker.is_valid(mutate(ENVIRONMENT, ("defaults", "temperature_matrix", "default"), 3))  # the referenced rule applies


def test_integers_under_additional_properties_are_checked_in_every_value() -> None:
    checker = schemas.validator(schemas.STATE)
    exact = checker.full
    assert isinstance(checker, FastValidator)
    document = STATE
    assert list(exact.iter_errors(document)) == [] and checker.is_valid(document)
    floated = mutate(document, ("resources", "support-bot", "version"), 4.0)
    assert list(exact.iter_errors(floated)) and not checker.is_valid(floated)


def test_a_valid_environment_is_checked_without_importing_python_jsonschema(tmp_path: Any) -> None:
    import subprocess
    import sys
    from pathlib import Path

    env = tmp_path / "environments" / "dev"
    (env / "models").mkdir(parents=True)
    (env / "environment.yaml").write_text("gateway:\n  region: us-east-1\napply:\n  parallelism: 4\n", encoding="utf-8")
    (env / "models" / "bot.yaml").write_text(
        f"model_id: {VALID['model_id']}\ntemperature_matrix: {{default: 0.7, creative: 1.2, precise: 0.3}}\n"
        "safety_filters:\n  - {filter_type: pii, action: redact, threshold: 85}\nmax_tokens: 2048\n",
        encoding="utf-8",
    )
    code = (
        "import sys; from pathlib import Path; from planner.app import environments as manager\n"
        f"manager.load_environment(Path({str(tmp_path)!r}), 'dev')\n"
        "print('jsonschema' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"  # start-up does not pay 0.1 s for a library only errors need

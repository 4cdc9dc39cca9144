"""Property: whatever a model file holds, `validate` answers 0 or 1, never a
traceback, never a network request.

Inputs: valid configurations, near-valid ones (a valid one with one mutation),
arbitrary YAML documents, YAML-ish token soup (anchors, tags, indentation,
document markers) and garbage text and bytes.  The default run is bounded
(200 examples, derandomized, a few seconds); set FOUNDATION_FUZZ_EXAMPLES=5000
for a deeper, randomized run.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.foundation.foundation_helpers import SANDBOX_ENVIRONMENT, run_main

DEEP = os.environ.get("FOUNDATION_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(DEEP or 200),
    deadline=None,
    derandomize=DEEP is None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

FILTER_TYPES = ("profanity", "pii", "self_harm", "political")


def finite(low: float, high: float) -> st.SearchStrategy[float | int]:
    return st.one_of(st.floats(low, high, allow_nan=False, allow_infinity=False), st.integers(int(low), int(high)) if high >= 1 else st.just(0))


@st.composite
def valid_configs(draw: st.DrawFn) -> dict[str, Any]:
    types = draw(st.lists(st.sampled_from(FILTER_TYPES), min_size=1, max_size=4, unique=True))
    config: dict[str, Any] = {
        "model_id": str(draw(st.uuids())),
        "temperature_matrix": {"default": draw(finite(0, 1)), "creative": draw(finite(0, 1.5)), "precise": draw(st.floats(0, 0.5))},
        "safety_filters": [
            {"filter_type": t, "action": draw(st.sampled_from(("block", "redact", "flag"))), "threshold": draw(finite(0, 100))} for t in types
        ],
        "max_tokens": draw(st.integers(1, 8192)),
    }
    if draw(st.booleans()):
        config["compliance_mode"] = draw(st.sampled_from(("strict", "standard", "permissive")))
    return config


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@st.composite
def near_valid_configs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid configuration with one or two things changed."""
    config = copy.deepcopy(draw(valid_configs()))
    for _ in range(draw(st.integers(1, 2))):
        # every mutable spot: top-level keys, temperatures, filter fields
        spots: list[tuple[Any, Any]] = [(config, key) for key in list(config)]
        if isinstance(config.get("temperature_matrix"), dict):
            spots += [(config["temperature_matrix"], key) for key in list(config["temperature_matrix"])]
        if isinstance(config.get("safety_filters"), list):
            spots += [(item, key) for item in config["safety_filters"] if isinstance(item, dict) for key in list(item)]
        if not spots:
            break
        container, key = draw(st.sampled_from(spots))
        mutation = draw(st.sampled_from(("delete", "replace", "nudge", "unknown-key", "duplicate-filter")))
        if mutation == "delete":
            del container[key]
        elif mutation == "replace":
            container[key] = draw(json_values)
        elif mutation == "nudge" and isinstance(container[key], (int, float)) and not isinstance(container[key], bool):
            container[key] = container[key] + draw(st.sampled_from((-1e-4, 1e-4, -1, 1, 0.5, 10_000)))
        elif mutation == "unknown-key":
            container[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
        elif mutation == "duplicate-filter" and isinstance(config.get("safety_filters"), list) and config["safety_filters"]:
            config["safety_filters"].append(copy.deepcopy(config["safety_filters"][0]))
    return config


YAML_TOKENS = (
    "model_id: ", "max_tokens: ", "safety_filters:", "temperature_matrix:", "- ", "  ", "\t", "\n", ": ", "? ",
    "&a ", "*a", "&b [*a, *a]", "<<: *a", "!!int ", "!!float ", "!!bool ", "!!binary ", "!!python/object:os.system ",
    "!custom ", "---\n", "...\n", "[", "]", "{", "}", ",", '"', "'", "|\n", ">-\n", "#", ".nan", "-.inf", "0x1F",
    "1e3", "1.0e+999", "9" * 5000, "~", "null", "yes", "2024-01-01", "%YAML 1.1\n", "\\u0000", "\ufeff", "é", "\x85",
)


@st.composite
def yaml_soup(draw: st.DrawFn) -> str:
    return "".join(draw(st.lists(st.sampled_from(YAML_TOKENS) | st.text(max_size=5), max_size=40)))


TAGS = ("!!int", "!!float", "!!bool", "!!null", "!!str", "!!timestamp", "!!binary", "!!set", "!!omap", "!local", "")
ODD_SCALARS = ("", "abc", "maybe", "0x", "1_", ".", "9" * 5000, "1.0e+999", "-.inf", ".NaN", "0o17", "2024-13-45", "~", "'quoted'")


@st.composite
def tagged_values(draw: st.DrawFn) -> str:
    """A valid configuration with one value replaced by an explicitly tagged, odd scalar."""
    text = yaml.safe_dump(draw(valid_configs()), sort_keys=False)
    lines = text.splitlines()
    index = draw(st.sampled_from([i for i, line in enumerate(lines) if ": " in line]))
    key, _, _ = lines[index].partition(": ")
    scalar = draw(st.sampled_from(ODD_SCALARS) | st.text(max_size=8))
    lines[index] = f"{key}: {draw(st.sampled_from(TAGS))} {json.dumps(scalar) if draw(st.booleans()) else scalar}"
    return "\n".join(lines) + "\n"


def dumped(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return strategy.map(lambda value: yaml.safe_dump(value, sort_keys=False, allow_unicode=True).encode("utf-8"))


documents = st.one_of(
    dumped(valid_configs()),
    dumped(near_valid_configs()),
    dumped(json_values),
    tagged_values().map(lambda text: text.encode("utf-8", "surrogatepass")),
    yaml_soup().map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.binary(max_size=200),
)


def lines_in(raw: bytes) -> int:
    """Lines of a file as YAML counts them (it also breaks lines at \\r, NEL, LS, PS)."""
    lines = re.split(r"\r\n|[\n\r\x85\u2028\u2029]", raw.decode("utf-8", "replace"))
    return max(1, len(lines) - (1 if len(lines) > 1 and lines[-1] == "" else 0))


def project_with(root: Path, raw: bytes) -> None:
    env = root / "environments" / "fuzz"
    (env / "models").mkdir(parents=True, exist_ok=True)
    (env / "environment.yaml").write_text(SANDBOX_ENVIRONMENT, encoding="utf-8")
    (env / "models" / "fuzzed.yaml").write_bytes(raw)


@FUZZ
@given(raw=documents)
def test_any_model_file_gives_exit_0_or_1_never_a_traceback_never_a_request(raw: bytes, tmp_path: Path, no_network: list[object]) -> None:
    project_with(tmp_path, raw)

    run = run_main(["validate", "--env", "fuzz", "--root", str(tmp_path), "--format", "json"])

    assert run.code in (0, 1), run
    assert "Traceback" not in run.stdout + run.stderr
    assert no_network == []
    report = json.loads(run.stdout)  # JSON on stdout either way
    if run.code == 0:
        assert report == {"environment": "fuzz", "valid": True, "models": 1, "problems": [], "warnings": []}
    else:
        assert report["problems"], run
        for problem in report["problems"]:
            assert problem["file"] == "environments/fuzz/models/fuzzed.yaml"
            assert problem["message"]
            # a problem about a file that could be read points at a line
            assert problem["line"] is None or 1 <= problem["line"] <= lines_in(raw), problem


@FUZZ
@given(config=valid_configs())
def test_every_valid_configuration_passes(config: dict[str, Any], tmp_path: Path) -> None:
    project_with(tmp_path, yaml.safe_dump(config).encode("utf-8"))

    run = run_main(["validate", "--env", "fuzz", "--root", str(tmp_path)])

    assert (run.code, run.stdout) == (0, "1 model valid in environment fuzz\n"), run.stderr


SCHEMA_WORDS = (
    "type", "enum", "const", "properties", "required", "additionalProperties", "patternProperties", "oneOf", "anyOf",
    "allOf", "not", "if", "then", "else", "$ref", "$defs", "items", "minimum", "maximum", "dependentRequired",
    "propertyNames", "minItems", "contains", "unevaluatedProperties", "format", "pattern",
)
SETTINGS_WORDS = ("gateway", "region", "sandbox", "base_url", "login_url", "defaults", "apply", "parallelism", "policy", "governance", "webhook_url")
FIELD_WORDS = ("model_id", "max_tokens", "compliance_mode", "safety_filters", "temperature_matrix", "filter_type")
schema_like = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10_000) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
    | st.sampled_from(("strict", "object", "array", "integer", "#", "", "#/$defs/a", "^x", "eu-west-1", "https://x.example")),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(SCHEMA_WORDS + SETTINGS_WORDS + FIELD_WORDS) | st.text(max_size=6), children, max_size=5),
    max_leaves=25,
)


@settings(FUZZ, max_examples=int(DEEP or 100))
@given(policy=schema_like, settings_document=schema_like)
def test_any_environment_file_or_policy_gives_exit_0_or_1_never_a_traceback_never_a_request(
    policy: Any, settings_document: Any, tmp_path: Path, no_network: list[object]
) -> None:
    """Policies are user-written JSON Schemas: self-references, dangling refs,
    odd keywords.  Settings may be any shape."""
    for document in ({"gateway": {"sandbox": True}, "policy": policy}, settings_document):
        project_with(tmp_path, b"model_id: a1b2c3d4-e5f6-7890-abcd-ef1234567890\nmax_tokens: 5\n")
        (tmp_path / "environments" / "fuzz" / "environment.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")

        run = run_main(["validate", "--env", "fuzz", "--root", str(tmp_path), "--format", "json"])

        assert run.code == 1, run  # the model file lacks required fields either way
        assert "Traceback" not in run.stdout + run.stderr
        assert json.loads(run.stdout)["problems"]

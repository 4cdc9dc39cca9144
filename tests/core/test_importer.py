"""The importer's pure parts: addresses from display names, and model files
that read back as exactly the live configuration."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from planner.core.diff import configuration_hash
from planner.core.importing import SCHEMA_HEADER, choose_addresses, model_yaml, slug
from planner.core.validation import configuration_violations
from planner.core.yamlsource import parse_yaml
from planner.model.settings import ADDRESS_PATTERN

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
OTHER = "b2c3d4e5-f6a7-4890-9bcd-ef1234567891"
THIRD = "c3d4e5f6-a7b8-4901-8cde-f12345678902"

SLUG_CASES = [
    # spaces and punctuation become single dashes, parentheses vanish
    ("Claude Support (EU)", "claude-support-eu"),
    # already an address
    ("gpt-summarizer", "gpt-summarizer"),
    # underscores are allowed in addresses and kept
    ("my_model", "my_model"),
    # leading and trailing separators are trimmed
    ("--Support Bot__", "support-bot"),
    # runs of separators collapse
    ("GPT  -  4o / mini", "gpt-4o-mini"),
    # accents are transliterated, not dropped with their letter
    ("Ünïcode Bót", "unicode-bot"),
    # nothing usable: empty (the caller falls back to the id)
    ("日本語", ""),
    ("", ""),
    ("---", ""),
    # a digit may start an address
    ("4o Mini", "4o-mini"),
]


@pytest.mark.parametrize("name,expected", SLUG_CASES)
def test_slug(name: str, expected: str) -> None:
    assert slug(name) == expected
    if expected:
        assert ADDRESS_PATTERN.match(expected)


def test_a_very_long_name_gives_a_file_name_the_file_system_accepts() -> None:
    address = slug("Very Long Model Name " * 40)
    assert ADDRESS_PATTERN.match(address)
    assert len(address) <= 64
    assert not address.endswith("-")


CHOOSE_CASES = [
    # no collision: the slug of each name
    ([(SUPPORT, "Claude Support"), (OTHER, "GPT Summarizer")], set(), {SUPPORT: "claude-support", OTHER: "gpt-summarizer"}),
    # an existing file takes the slug: -2
    ([(SUPPORT, "Claude Support")], {"claude-support"}, {SUPPORT: "claude-support-2"}),
    # -2 taken too: -3
    ([(SUPPORT, "Claude Support")], {"claude-support", "claude-support-2"}, {SUPPORT: "claude-support-3"}),
    # two imported models with one slug: the smaller id keeps the plain name
    ([(OTHER, "Support Bot"), (SUPPORT, "support bot")], set(), {SUPPORT: "support-bot", OTHER: "support-bot-2"}),
    # three at once, one name also taken by a file
    (
        [(THIRD, "bot"), (SUPPORT, "Bot"), (OTHER, "BOT")],
        {"bot"},
        {SUPPORT: "bot-2", OTHER: "bot-3", THIRD: "bot-4"},
    ),
    # empty and unusable names fall back to the id's first block
    ([(SUPPORT, ""), (OTHER, "日本語")], set(), {SUPPORT: "model-a1b2c3d4", OTHER: "model-b2c3d4e5"}),
    # upper-case ids give lower-case addresses
    ([(SUPPORT.upper(), "")], set(), {SUPPORT.upper(): "model-a1b2c3d4"}),
    # a name that slugs to "model-a1b2c3d4" and an unnamed model with that id: the smaller id keeps it
    ([(OTHER, "Model A1B2C3D4"), (SUPPORT, "")], set(), {SUPPORT: "model-a1b2c3d4", OTHER: "model-a1b2c3d4-2"}),
    # a model really named "Bot 2" keeps "bot-2"; the second "Bot" moves on to -3
    ([(SUPPORT, "Bot"), (OTHER, "Bot"), (THIRD, "Bot 2")], set(), {SUPPORT: "bot", OTHER: "bot-3", THIRD: "bot-2"}),
]


@pytest.mark.parametrize("models,taken,expected", CHOOSE_CASES)
def test_choose_addresses(models: list[tuple[str, str]], taken: set[str], expected: dict[str, str]) -> None:
    chosen = choose_addresses(models, taken)
    assert chosen == expected
    assert len(set(chosen.values())) == len(chosen)
    assert not set(chosen.values()) & taken


LIVE: dict[str, Any] = {
    "model_id": SUPPORT,
    "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.3},
    "safety_filters": [
        {"filter_type": "pii", "action": "redact", "threshold": 85},
        {"filter_type": "self_harm", "action": "block", "threshold": 10},
    ],
    "max_tokens": 2048,
    "compliance_mode": "strict",
    "version": 4,
    "modifiedDate": "2026-11-24T10:00:00.000Z",
    "selfUri": f"/api/v2/ai/models/{SUPPORT}/configuration",
}

EXPECTED_FILE = f"""\
{SCHEMA_HEADER}
model_id: {SUPPORT}
temperature_matrix: {{default: 0.7, creative: 1.2, precise: 0.3}}
safety_filters:
  - {{filter_type: pii, action: redact, threshold: 85}}
  - {{filter_type: self_harm, action: block, threshold: 10}}
max_tokens: 2048
compliance_mode: strict
"""


def test_model_yaml_looks_like_the_examples() -> None:
    assert model_yaml(LIVE) == EXPECTED_FILE


def live_with(**changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(LIVE)
    result.update(changes)
    return result


ODD_CASES = [
    # a small float JSON writes in exponent form: 1e-05 is a string to YAML 1.1 unless written 1.0e-05
    pytest.param(live_with(temperature_matrix={"default": 0.1, "creative": 1e-05, "precise": 1e-07}), "creative: 1.0e-05", id="exponent-floats"),
    # integral floats are temperatures as the examples write them: 1.0, 0.0
    pytest.param(live_with(temperature_matrix={"default": 1.0, "creative": 1.0, "precise": 0.0}), "{default: 1.0, creative: 1.0, precise: 0.0}", id="integral-floats"),
    # integer temperatures from the gateway are written the same way
    pytest.param(live_with(temperature_matrix={"default": 1, "creative": 0, "precise": 0}), "{default: 1.0, creative: 0.0, precise: 0.0}", id="integer-temperatures"),
    # a fractional threshold stays fractional
    pytest.param(live_with(safety_filters=[{"filter_type": "pii", "action": "flag", "threshold": 85.5}]), "threshold: 85.5}", id="fractional-threshold"),
    # an integral float threshold is written as the integer the examples use
    pytest.param(live_with(safety_filters=[{"filter_type": "pii", "action": "flag", "threshold": 85.0}]), "threshold: 85}", id="integral-threshold"),
    # an upper-case id from the gateway is written lower-case
    pytest.param(live_with(model_id=SUPPORT.upper()), f"model_id: {SUPPORT}\n", id="upper-case-id"),
    # no compliance_mode live: the documented default is written out
    pytest.param({k: v for k, v in LIVE.items() if k != "compliance_mode"}, "compliance_mode: standard\n", id="default-filled-in"),
    # a 0.1 + 0.2 float keeps every digit
    pytest.param(live_with(temperature_matrix={"default": 0.1 + 0.2, "creative": 1.2, "precise": 0.3}), "default: 0.30000000000000004", id="float-noise"),
]


@pytest.mark.parametrize("live,fragment", ODD_CASES)
def test_model_yaml_reads_back_as_the_live_configuration(live: dict[str, Any], fragment: str) -> None:
    text = model_yaml(live)
    assert fragment in text
    assert text.startswith(SCHEMA_HEADER + "\n")
    document, problems = parse_yaml(text, "imported.yaml")
    assert problems == [] and document is not None
    assert configuration_hash(document.data) == configuration_hash(live)
    assert configuration_violations(document.data) == []

"""Validation: every problem at once, sorted, in plain English; capability rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from planner.adapters.project import read_environment
from planner.core.validation import Violation, capability_violations, check_capabilities, check_environment, configuration_violations
from planner.model.configuration import Capabilities
from planner.model.errors import Problem, ValidationFailed
from tests.foundation.foundation_helpers import VALID_MODEL, Project

CONFIG: dict[str, Any] = {
    "model_id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
    "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.3},
    "safety_filters": [
        {"filter_type": "pii", "action": "redact", "threshold": 85},
        {"filter_type": "political", "action": "block", "threshold": 60},
    ],
    "max_tokens": 2048,
    "compliance_mode": "strict",
}


def changed(**fields: Any) -> dict[str, Any]:
    config = copy.deepcopy(CONFIG)
    config.update(fields)
    return config


def problems_of(project: Project, env: str = "corpus") -> list[Problem]:
    return check_environment(read_environment(project.root, env))


# --- all problems at once, sorted, readable ---------------------------------------


def test_every_problem_of_every_file_is_reported_at_once_in_file_and_line_order(project: Project) -> None:
    project.environment(
        settings="gateway: {region: mars-1}\napply:\n  parallelism: 0\n",
        models={
            "b-bot": "model_id: not-a-uuid\n"
            "temperature_matrix: {default: 2, creative: 1.2, precise: 0.3}\n"
            "safety_filters:\n  - {filter_type: pii, action: shout, threshold: 101}\n"
            "max_tokens: 9000\ncolour: blue\n",
            "a-bot": "model_id: a1b2c3d4-e5f6-7890-abcd-ef1234567890\nmax_tokens: 10\n",
        },
    )
    env = "environments/corpus/"

    assert [str(p) for p in problems_of(project)] == [
        f"{env}environment.yaml:1 gateway.region: \"mars-1\" is not one of: us-east-1, us-east-2, us-west-2, ca-central-1, eu-west-1, eu-west-2, "
        f"eu-central-1, eu-central-2, ap-southeast-2, ap-northeast-1, ap-northeast-2, ap-northeast-3, ap-south-1, sa-east-1, me-central-1",
        f"{env}environment.yaml:3 apply.parallelism: 0 is less than the minimum of 1",
        f"{env}models/a-bot.yaml:1: missing required field 'safety_filters'",
        f"{env}models/a-bot.yaml:1: missing required field 'temperature_matrix'",
        f"{env}models/b-bot.yaml:1 model_id: \"not-a-uuid\" is not a UUID (expected 8-4-4-4-12 hexadecimal digits)",
        f"{env}models/b-bot.yaml:2 temperature_matrix.default: 2 is greater than the maximum of 1",
        f"{env}models/b-bot.yaml:4 safety_filters[0].action: \"shout\" is not one of: block, redact, flag",
        f"{env}models/b-bot.yaml:4 safety_filters[0].threshold: 101 is greater than the maximum of 100",
        f"{env}models/b-bot.yaml:5 max_tokens: 9000 is greater than the maximum of 8192",
        f"{env}models/b-bot.yaml:6 colour: unknown field 'colour' (allowed: model_id, temperature_matrix, safety_filters, max_tokens, compliance_mode)",
    ]


def test_the_cli_error_lists_the_same_problems_with_a_count(project: Project) -> None:
    problems = [Problem("b.yaml", 3, "max_tokens", "0 is less than the minimum of 1"), Problem("a.yaml", None, "", "missing models/ folder")]

    failure = ValidationFailed(problems, what="environment x is not valid")

    assert failure.message == (
        "environment x is not valid: 2 problems\n"
        "  a.yaml: missing models/ folder\n"
        "  b.yaml:3 max_tokens: 0 is less than the minimum of 1"
    )


def test_messages_never_show_schema_internals(project: Project) -> None:
    """A user reads English, not jsonschema's reprs of schemas and regexes."""
    project.environment(
        settings="gateway: {base_url: 'http://gateway.example.com', login_url: 'x'}\ngovernance: {webhook_url: ftp://x, secret_env: '1 bad'}\n",
        models={
            "m": "model_id: 12\ntemperature_matrix: {default: '0.5', creative: [1], precise: null}\n"
            "safety_filters: {pii: 1}\nmax_tokens: 1.5\ncompliance_mode: [strict]\n"
        },
    )

    messages = [p.message for p in problems_of(project)]

    assert len(messages) >= 10
    for message in messages:
        for internal in ("is not of type", "does not match", "Failed validating", "^", "$", "{'", "[0-9"):
            assert internal not in message, message


@pytest.mark.parametrize("name", ["pg_temp", "pg_catalog", "pg_llmplan"])
def test_a_schema_name_postgresql_reserves_is_refused_by_validate(project: Project, name: str) -> None:
    """pg_temp would put the records in a schema that vanishes with the session; PostgreSQL refuses the rest."""
    project.environment(settings=f"gateway: {{sandbox: true}}\nstate: {{backend: postgres, schema: {name}}}\n", models={"m": VALID_MODEL})

    (problem,) = problems_of(project)

    assert (problem.path, problem.line) == ("state.schema", 2)
    assert problem.message == f'"{name}" is not a schema name llmplan may use (lower-case letters, digits and _, at most 63 characters, not starting with pg_: PostgreSQL reserves those)'


# --- rules a schema cannot say, and the duplicates ------------------------------------


def test_the_same_model_id_in_two_files_names_both_places(project: Project) -> None:
    project.environment(models={"one": VALID_MODEL, "two": "# copy\n" + VALID_MODEL})

    assert [str(p) for p in problems_of(project)] == [
        "environments/corpus/models/two.yaml:2 model_id: a1b2c3d4-e5f6-7890-abcd-ef1234567890 is also managed by "
        "environments/corpus/models/one.yaml:1; a model belongs in one file"
    ]


def test_a_bad_default_is_reported_once_not_once_per_model(project: Project) -> None:
    models = {
        f"m{n}": f"model_id: {n}1b2c3d4-e5f6-7890-abcd-ef1234567890\ntemperature_matrix: {{default: 0.7, creative: 1.2, precise: 0.3}}\n"
        for n in range(1, 4)
    }
    project.environment(
        settings="gateway: {sandbox: true}\ndefaults:\n  max_tokens: 9000\n  colour: blue\n  model_id: a1b2c3d4-e5f6-7890-abcd-ef1234567890\n"
        "  safety_filters: [{filter_type: pii, action: redact, threshold: 1}, {filter_type: pii, action: flag, threshold: 2}]\n",
        models=models,
    )
    settings = "environments/corpus/environment.yaml"

    assert [str(p) for p in problems_of(project)] == [
        f"{settings}:3 defaults.max_tokens: 9000 is greater than the maximum of 8192",
        f"{settings}:4 defaults.colour: unknown field 'colour' (allowed: temperature_matrix, safety_filters, max_tokens, compliance_mode)",
        f"{settings}:5 defaults.model_id: unknown field 'model_id' (allowed: temperature_matrix, safety_filters, max_tokens, compliance_mode)",
        f"{settings}:6 defaults.safety_filters[1].filter_type: filter_type 'pii' appears more than once (first at safety_filters[0])",
    ]


def test_an_inherited_value_that_breaks_the_policy_is_reported_once_where_it_is_written(project: Project) -> None:
    models = {
        f"m{n}": f"model_id: {n}1b2c3d4-e5f6-7890-abcd-ef1234567890\ntemperature_matrix: {{default: 0.7, creative: 1.2, precise: 0.3}}\n"
        for n in range(1, 4)
    }
    project.environment(
        settings="gateway: {sandbox: true}\npolicy:\n  properties: {max_tokens: {maximum: 4096}}\n"
        "defaults:\n  safety_filters: [{filter_type: pii, action: redact, threshold: 1}]\n  max_tokens: 8192\n",
        models=models,
    )

    assert [str(p) for p in problems_of(project)] == [
        "environments/corpus/environment.yaml:6 max_tokens: 8192 is greater than the maximum of 4096 (policy of environment corpus)"
    ]


def test_a_policy_sees_the_documented_defaults(project: Project) -> None:
    """compliance_mode omitted means 'standard' at the gateway; a strict-only policy must say so."""
    project.environment(
        settings="gateway: {sandbox: true}\npolicy: {required: [compliance_mode], properties: {compliance_mode: {const: strict}}}\n",
        models={"m": VALID_MODEL.replace("compliance_mode: strict\n", "")},
    )

    assert [str(p) for p in problems_of(project)] == [
        'environments/corpus/models/m.yaml:1 compliance_mode: "standard" must be "strict" (policy of environment corpus)'
    ]


@pytest.mark.parametrize(
    "policy",
    [
        "{oneOf: [true, true]}",  # boolean subschemas once crashed the message builder
        "{$ref: 'https://policies.example.com/strict.json'}",  # would have been fetched over the network
        "{properties: {max_tokens: {$ref: '#/$defs/nowhere'}}}",  # a dangling ref once raised a traceback
        "{additionalProperties: false, patternProperties: {'^x-': {}}}",
    ],
)
def test_odd_but_possible_policies_give_problems_never_exceptions(project: Project, policy: str, no_network: list[object]) -> None:
    project.environment(settings=f"gateway: {{sandbox: true}}\npolicy: {policy}\n", models={"m": VALID_MODEL})

    problems = problems_of(project)

    assert problems and all(isinstance(p, Problem) and p.line is not None for p in problems)


def test_pattern_properties_of_a_policy_are_allowed_fields(project: Project) -> None:
    project.environment(
        settings="gateway: {sandbox: true}\npolicy:\n  additionalProperties: false\n  properties: {model_id: true}\n"
        "  patternProperties: {'^(temperature|safety)_': true, '^max_': true}\n",
        models={"m": VALID_MODEL},
    )

    assert [str(p) for p in problems_of(project)] == [
        "environments/corpus/models/m.yaml:7 compliance_mode: unknown field 'compliance_mode' (allowed: model_id) (policy of environment corpus)"
    ]


# --- bare configurations (shared with the sandbox gateway) ---------------------------------


def test_a_valid_configuration_has_no_violations() -> None:
    assert configuration_violations(CONFIG) == []


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        # a whole number written as a float would differ from the gateway's int forever
        (changed(max_tokens=2048.0), [Violation(("max_tokens",), "2048.0 is not an integer")]),
        # Python's $ matches before a trailing newline; a UUID pattern alone would accept this
        (changed(model_id=CONFIG["model_id"] + "\n"), [Violation(("model_id",), '"a1b2c3d4-e5f6-7890-abcd-ef1234567890\\n" is not a UUID (expected 8-4-4-4-12 hexadecimal digits)')]),
        # a long value is shortened in the message, not repeated in full
        (changed(compliance_mode="x" * 10_000), [Violation(("compliance_mode",), '"' + "x" * 58 + "… is not one of: strict, standard, permissive", expects_text=True)]),
        # not a mapping at all
        ([1, 2], [Violation((), "[1, 2] is not a mapping")]),
    ],
)
def test_configuration_violations(config: Any, expected: list[Violation]) -> None:
    assert configuration_violations(config) == expected


# --- capability rules ---------------------------------------------------------------

SUPPORT_BOT = Capabilities(max_context_window=4096, restricted_safety_filters=frozenset({"political"}))


@pytest.mark.parametrize(
    ("config", "capabilities", "expected"),
    [
        # the documented example on its own model: political may not block there
        (CONFIG, SUPPORT_BOT, [Violation(("safety_filters", 1, "action"), "filter 'political' is restricted on this model and may not use 'block' (use 'redact' or 'flag')")]),
        # same configuration on a model without restrictions: fine
        (CONFIG, Capabilities(8192), []),
        # max_tokens equal to the context window is allowed
        (changed(max_tokens=4096), Capabilities(4096), []),
        # one token over the context window is not
        (changed(max_tokens=4097), Capabilities(4096), [Violation(("max_tokens",), "4097 exceeds the model's max_context_window of 4096")]),
        # a restricted filter may still redact or flag
        (changed(safety_filters=[{"filter_type": "political", "action": "redact", "threshold": 1}, {"filter_type": "pii", "action": "flag", "threshold": 2}]), SUPPORT_BOT, []),
        # blocking an unrestricted filter on a model with restrictions is fine
        (changed(safety_filters=[{"filter_type": "pii", "action": "block", "threshold": 1}]), SUPPORT_BOT, []),
        # both rules broken: both reported, the index names the right filter
        (
            changed(max_tokens=8192, safety_filters=[{"filter_type": "pii", "action": "redact", "threshold": 1}, {"filter_type": "profanity", "action": "block", "threshold": 2}, {"filter_type": "political", "action": "block", "threshold": 3}]),
            Capabilities(2048, frozenset({"political", "profanity"})),
            [
                Violation(("max_tokens",), "8192 exceeds the model's max_context_window of 2048"),
                Violation(("safety_filters", 1, "action"), "filter 'profanity' is restricted on this model and may not use 'block' (use 'redact' or 'flag')"),
                Violation(("safety_filters", 2, "action"), "filter 'political' is restricted on this model and may not use 'block' (use 'redact' or 'flag')"),
            ],
        ),
    ],
)
def test_capability_violations(config: dict[str, Any], capabilities: Capabilities, expected: list[Violation]) -> None:
    assert capability_violations(config, capabilities) == expected


def test_capabilities_are_checked_where_known_and_located_in_the_file(project: Project) -> None:
    support_bot = VALID_MODEL.replace("max_tokens: 2048", "max_tokens: 8000").replace("a1b2c3d4-e5f6", "A1B2C3D4-E5F6")
    project.environment(models={"support-bot": support_bot, "other": VALID_MODEL.replace("a1b2", "ffff")})
    models = read_environment(project.root, "corpus").models
    # keyed by lower-case id, as the live fetch reports them; "other" has no known capabilities
    known = {"a1b2c3d4-e5f6-7890-abcd-ef1234567890": Capabilities(4096, frozenset({"self_harm"}))}

    problems = check_capabilities(models, known)

    assert [str(p) for p in problems] == [
        "environments/corpus/models/support-bot.yaml:6 max_tokens: 8000 exceeds the model's max_context_window of 4096 (live capability)",
        "environments/corpus/models/support-bot.yaml:5 safety_filters[1].action: filter 'self_harm' is restricted on this model and may not use 'block' (use 'redact' or 'flag') (live capability)",
    ]

"""Judging configurations: JSON Schema, environment policy, capability rules.

Every check returns *all* its findings; nothing raises on the first one.
Findings about a bare configuration are :class:`Violation` (a JSON path and a
message) so the sandbox gateway can reuse them for its 400 answers; findings
about files are :class:`~planner.model.errors.Problem` (file, line, path, message)
so a user can jump to the line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from planner.core.yamlexplain import reading_note, written_at
from planner.model import schemas
from planner.model.addresses import url_refusal
from planner.model.configuration import Capabilities, with_defaults
from planner.model.errors import Problem
from planner.model.printable import shorten
from planner.model.settings import EnvironmentSource, ModelFile, Origin
from planner.model.source import JsonPath, format_path

# JSON Schema's type names in the words of a YAML file.
_TYPE_NAMES = {"object": "mapping", "array": "list"}

# What a pattern stands for, by field name, so a user never reads a regex.
_PATTERN_MEANINGS = {
    "model_id": "is not a UUID (expected 8-4-4-4-12 hexadecimal digits)",
    "base_url": "is not an https:// URL (http:// only on 127.0.0.1, localhost or [::1])",
    "login_url": "is not an https:// URL (http:// only on 127.0.0.1, localhost or [::1])",
    "webhook_url": "is not an https:// URL (http:// only on 127.0.0.1, localhost or [::1])",
    "secret_env": "is not an environment variable name (letters, digits and _, not starting with a digit)",
    "schema": "is not a schema name llmplan may use (lower-case letters, digits and _, at most 63 characters, not starting with pg_: PostgreSQL reserves those)",
}


# Where llmplan sends requests: never echoed with a user:password@ part, never to a host that is never allowed.
_URL_FIELDS = {"base_url", "login_url", "webhook_url"}
_URL_PATHS: tuple[JsonPath, ...] = (("gateway", "base_url"), ("gateway", "login_url"), ("governance", "webhook_url"))


@dataclass(frozen=True, order=True)
class Violation:
    """One broken rule in a configuration, without a file. ``expects_text``:
    the rule wanted text there (a string type, or an enum of words), so a
    value YAML read as a boolean or number is worth explaining."""

    path: JsonPath
    message: str
    expects_text: bool = False

    @property
    def field(self) -> str:
        return format_path(self.path)


# --- bare configurations (shared with the sandbox) -------------------------


def configuration_violations(config: Any) -> list[Violation]:
    """Schema rules plus the rules a schema cannot say (unique filter types)."""
    found = schema_violations(schemas.validator(schemas.MODEL_CONFIGURATION), config)
    found.extend(_duplicate_filter_violations(config))
    return found


def capability_violations(config: Mapping[str, Any], capabilities: Capabilities) -> list[Violation]:
    """Rules that depend on the live model; ``config`` must be schema-valid."""
    found: list[Violation] = []
    max_tokens = config.get("max_tokens")
    if isinstance(max_tokens, int) and max_tokens > capabilities.max_context_window:
        found.append(Violation(("max_tokens",), f"{max_tokens} exceeds the model's max_context_window of {capabilities.max_context_window}"))
    for index, item in enumerate(config.get("safety_filters") or ()):
        if item.get("filter_type") in capabilities.restricted_safety_filters and item.get("action") == "block":
            found.append(
                Violation(
                    ("safety_filters", index, "action"),
                    f"filter {item['filter_type']!r} is restricted on this model and may not use 'block' (use 'redact' or 'flag')",
                )
            )
    return found


def _duplicate_filter_violations(config: Any) -> list[Violation]:
    found: list[Violation] = []
    first_seen: dict[str, int] = {}
    filters = config.get("safety_filters") if isinstance(config, dict) else None
    for index, item in enumerate(filters if isinstance(filters, list) else ()):
        filter_type = item.get("filter_type") if isinstance(item, dict) else None
        if not isinstance(filter_type, str):
            continue
        if filter_type in first_seen:
            found.append(
                Violation(
                    ("safety_filters", index, "filter_type"),
                    f"filter_type {filter_type!r} appears more than once (first at safety_filters[{first_seen[filter_type]}])",
                )
            )
        else:
            first_seen[filter_type] = index
    return found


def schema_violations(validator: Any, instance: Any, *, descriptions: bool = False) -> list[Violation]:
    """Every violation, explained.  With ``descriptions`` (a user's policy), a
    rule that carries a ``description`` is reported in the author's words."""
    found: list[Violation] = []
    for error in validator.iter_errors(instance):
        described = error.schema.get("description") if descriptions and isinstance(error.schema, dict) else None
        if isinstance(described, str) and described.strip():
            found.append(Violation(tuple(error.absolute_path), shorten(described.strip(), 200)))
        else:
            found.extend(_explain(error))
    return sorted(set(found))


def _show(value: Any) -> str:
    try:
        shown = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        shown = repr(value)
    return shorten(shown)


def _explain(error: Any) -> list[Violation]:
    """Plain-English message(s) for one jsonschema error."""
    path: JsonPath = tuple(error.absolute_path)
    kind = error.validator
    schema = error.schema
    instance = error.instance
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = list(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        listing = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return [
            Violation(path + (key,), f"unknown field {shorten(key)!r}{listing}")
            for key in instance
            if key not in allowed and not any(re.search(pattern, key) for pattern in patterns)
        ]
    if kind == "required":
        missing = error.validator_value
        names = [name for name in missing if isinstance(instance, dict) and name not in instance]
        return [Violation(path, f"missing required field {name!r}") for name in names]
    if kind == "enum":
        words = all(isinstance(choice, str) for choice in error.validator_value)
        return [Violation(path, f"{_show(instance)} is not one of: {', '.join(map(str, error.validator_value))}", words)]
    if kind == "const":
        return [Violation(path, f"{_show(instance)} must be {_show(error.validator_value)}", isinstance(error.validator_value, str))]
    if kind == "type":
        expected = error.validator_value
        names = [_TYPE_NAMES.get(name, name) for name in (expected if isinstance(expected, list) else [expected])]
        shown = " or ".join(("an " if name[:1] in "aeiou" else "a ") + name for name in names)
        return [Violation(path, f"{_show(instance)} is not {shown}", "string" in names)]
    if kind == "contains":
        wanted = shorten(json.dumps(error.validator_value, ensure_ascii=False, sort_keys=True), 120)
        return [Violation(path, f"no item matches {wanted}")]
    if kind == "minItems":
        return [Violation(path, f"needs at least {error.validator_value} item{'s' if error.validator_value != 1 else ''}")]
    meaning = _PATTERN_MEANINGS.get(path[-1]) if path and isinstance(path[-1], str) else None
    if kind in ("pattern", "minLength", "maxLength") and meaning is not None:
        shown = _show(instance) if path[-1] not in _URL_FIELDS or url_refusal(str(instance)) is None else "the URL"
        return [Violation(path, f"{shown} {meaning}")]
    if kind == "pattern":
        return [Violation(path, f"{_show(instance)} does not have the expected form ({shorten(str(error.validator_value))})")]
    if kind == "dependentRequired" and isinstance(instance, dict):
        return [
            Violation(path + (key,), f"{key!r} needs {needed!r} to be set too")
            for key, needs in error.validator_value.items()
            if key in instance
            for needed in needs
            if needed not in instance
        ]
    branches = error.validator_value
    if kind in ("oneOf", "anyOf") and all(isinstance(b, dict) and set(b) == {"required"} and len(b["required"]) == 1 for b in branches):
        names = [branch["required"][0] for branch in branches]
        return [Violation(path, f"set exactly one of: {', '.join(names)}")]
    return [Violation(path, shorten(error.message, 200))]


# --- files (with locations) -----------------------------------------------


def _problems(violations: Iterable[Violation], locate: Any, suffix: str = "", *, explain: Any = None) -> list[Problem]:
    """Violations placed in their file; ``explain(violation, origin)`` may
    give a column and a note on how YAML read the value."""
    result = []
    for violation in violations:
        origin: Origin = locate(violation.path)
        note = explain(violation, origin) if explain is not None and violation.expects_text else None
        if note is not None:
            column, words = note
            result.append(Problem(origin.file, origin.line, violation.field, f"{violation.message}{suffix}; {words}", column))
        else:
            result.append(Problem(origin.file, origin.line, violation.field, violation.message + suffix))
    return result


def _reading_explainer(written_map: Mapping[JsonPath, tuple[int, str]], file: str, data: Any) -> Any:
    """``explain`` for :func:`_problems`: says how YAML read an unquoted value of ``file``, and where (from what loading kept of it)."""

    def explain(violation: Violation, origin: Origin) -> tuple[int, str] | None:
        if origin.file != file or not written_map:
            return None  # inherited from defaults: explained where it is written
        value = _value_at(data, violation.path)
        if isinstance(value, str) or value is None:
            return None
        written = written_at(written_map, violation.path)
        note = reading_note(written, value) if written is not None else None
        return (written.column, note) if written is not None and note is not None else None

    return explain


def _value_at(data: Any, path: JsonPath) -> Any:
    for part in path:
        if isinstance(data, dict) and isinstance(part, str):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data


def check_environment(source: EnvironmentSource) -> list[Problem]:
    """Every problem of an environment read from disk, in file order."""
    problems = list(source.problems)
    policy_validator = None
    settings = source.settings
    if settings is not None:
        env_violations = schema_violations(schemas.validator(schemas.ENVIRONMENT), settings.data)
        env_violations.extend(Violation(("defaults",) + v.path, v.message) for v in _duplicate_filter_violations(settings.data.get("defaults")))
        env_violations.extend(_destination_violations(settings.data))
        problems.extend(_problems(env_violations, lambda path: Origin(settings.file, settings.line_of(path)), explain=_reading_explainer(settings.written, settings.file, settings.data)))
        policy = settings.data.get("policy")
        if isinstance(policy, dict):
            policy_validator, policy_problems = _compile_policy(policy, settings.file, settings.line_of(("policy",)))
            problems.extend(policy_problems)

    # A bad value in ``defaults`` is reported once, at its line in
    # environment.yaml, not once more for every model that inherits it.
    reported_defaults = {(p.line, p.path) for p in problems if settings is not None and p.file == settings.file}

    owners: dict[str, ModelFile] = {}
    for model in source.models:
        for problem in _problems(configuration_violations(model.config), model.origin, explain=_reading_explainer(model.written, model.file, model.config)):
            if settings is not None and problem.file == settings.file and (problem.line, f"defaults.{problem.path}") in reported_defaults:
                continue
            problems.append(problem)
        if policy_validator is not None:
            problems.extend(_policy_problems(policy_validator, model, source.name, settings))
        model_id = model.config.get("model_id")
        if not isinstance(model_id, str):
            continue
        model_id = model_id.lower()
        if model_id in owners:
            other = owners[model_id]
            here = model.origin(("model_id",))
            there = other.origin(("model_id",))
            problems.append(
                Problem(here.file, here.line, "model_id", f"{shorten(model.config['model_id'])} is also managed by {there.file}:{there.line}; a model belongs in one file")
            )
        else:
            owners[model_id] = model
    return sorted(set(problems), key=lambda p: (p.file, p.line or 0, p.path, p.message))


def _destination_violations(settings: Any) -> list[Violation]:
    """URLs llmplan would send to that it never may: with credentials in them, or at a metadata address."""
    found = []
    for path in _URL_PATHS:
        block = settings.get(path[0]) if isinstance(settings, dict) else None
        url = block.get(path[1]) if isinstance(block, dict) else None
        refusal = url_refusal(url) if isinstance(url, str) else None
        if refusal is not None:
            found.append(Violation(path, refusal))
    return found


def _policy_problems(policy_validator: Any, model: ModelFile, environment: str, settings: Any) -> list[Problem]:
    from referencing.exceptions import Unresolvable  # lazy: only a policy loads python-jsonschema (0.1 s)

    where = Origin(settings.file, settings.line_of(("policy",)))
    try:
        violations = schema_violations(policy_validator, with_defaults(model.config), descriptions=True)
    except Unresolvable as exc:
        # refs are resolved lazily, so a dangling one only shows while validating
        return [Problem(where.file, where.line, "policy", f"policy is not a valid JSON Schema: cannot resolve $ref ({shorten(str(exc), 120)}); llmplan never fetches schemas over the network")]
    except RecursionError:  # {$ref: "#"} and friends refer to themselves forever
        return [Problem(where.file, where.line, "policy", "policy is not a valid JSON Schema: a $ref leads back to itself without end")]
    return _problems(violations, model.origin, f" (policy of environment {environment})")


def _compile_policy(policy: dict[str, Any], file: str, line: int | None) -> tuple[Any, list[Problem]]:
    from jsonschema.exceptions import SchemaError  # lazy: only a policy loads python-jsonschema (0.1 s)

    try:
        schemas.validator_class().check_schema(policy)
    except SchemaError as exc:
        where = format_path(("policy",) + tuple(exc.absolute_path))
        return None, [Problem(file, line, where, f"policy is not a valid JSON Schema: {shorten(exc.message, 120)}")]
    return schemas.validator_for(policy), []


def check_capabilities(models: Iterable[ModelFile], capabilities: Mapping[str, Capabilities]) -> list[Problem]:
    """Capability rules for every model whose live capabilities are known."""
    problems: list[Problem] = []
    for model in models:
        known = capabilities.get(model.model_id.lower())
        if known is not None:
            problems.extend(_problems(capability_violations(model.config, known), model.origin, " (live capability)"))
    return problems

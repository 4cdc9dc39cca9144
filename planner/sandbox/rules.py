"""What the sandbox accepts, judged by the sandbox itself.

The gateway's rules come from data, never from the client's code: the JSON
Schemas in ``schemas/`` (the model configuration) and the component schemas
of the sandbox's own OpenAPI document (the admin bodies), plus the rules no
schema can state, written here: each ``filter_type`` at most once,
``max_tokens`` within the model's ``max_context_window``, no ``block`` on a
filter the model restricts, ``model_id`` equal to the path's id.  The
client's ``planner.core.validation`` is deliberately not used: if the client and
the fake shared one implementation, a bug in it would make them agree.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable, Mapping

from planner.model import schemas
from planner.model.configuration import Capabilities
from planner.model.printable import shorten
from planner.model.source import JsonPath, format_path
from planner.sandbox.answers import FieldProblem

_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True, order=True)
class Finding:
    """One broken rule: where (a JSON path) and what."""

    path: JsonPath
    message: str

    @property
    def field(self) -> str:
        return format_path(self.path)

    def under(self, prefix: JsonPath) -> "Finding":
        return Finding(prefix + self.path, self.message)


def field_problems(findings: Iterable[Finding]) -> list[FieldProblem]:
    return [FieldProblem(finding.field, finding.message) for finding in findings]


# --- schemas ---------------------------------------------------------------------------


def schema_findings(validator: Any, instance: Any) -> list[Finding]:
    """Every way ``instance`` breaks the schema, one finding per field, sorted."""
    found: list[Finding] = []
    vague: list[Finding] = []  # "not valid under any variant": said only when nothing more precise is
    for error in validator.iter_errors(instance):
        explained = _explain(error)
        (vague if explained is None else found).extend(explained or [Finding(tuple(error.absolute_path), shorten(error.message, 200))])
    found.extend(v for v in vague if not any(f.path[: len(v.path)] == v.path for f in found))
    return sorted(set(found))


def _show(value: Any) -> str:
    try:
        return shorten(json.dumps(value, ensure_ascii=False))
    except (TypeError, ValueError):
        return shorten(repr(value))


def _explain(error: Any) -> list[Finding] | None:
    """Plain words for one jsonschema error; None for a variant mismatch with nothing precise to say."""
    path: JsonPath = tuple(error.absolute_path)
    instance = error.instance
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = list(error.schema.get("properties", {}))
        listing = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return [Finding(path + (key,), f"unknown field {shorten(key)!r}{listing}") for key in instance if key not in allowed]
    if error.validator == "required":
        return [Finding(path, f"missing required field {name!r}") for name in error.validator_value if isinstance(instance, dict) and name not in instance]
    if error.validator == "enum":
        return [Finding(path, f"{_show(instance)} is not one of: {', '.join(map(str, error.validator_value))}")]
    if error.validator in ("anyOf", "oneOf") and error.context:
        # A rule with variants (a fault's effect): report the variant that fits
        # but for missing fields, rather than "not valid under any schema".
        branches: dict[int, list[Any]] = {}
        for sub in error.context:
            branches.setdefault(sub.schema_path[0], []).append(sub)
        for subs in branches.values():
            if all(sub.validator == "required" for sub in subs):
                return [finding for sub in subs for finding in _explain(sub) or ()]
        return None
    return [Finding(path, shorten(error.message, 200))]


@lru_cache(maxsize=None)
def configuration_validator() -> Any:
    return schemas.validator(schemas.MODEL_CONFIGURATION)


def is_rfc3339(value: Any) -> bool:
    """An RFC 3339 date-time (``2026-11-24T10:00:00.000Z``), as OpenAPI's ``date-time`` format means it."""
    found = _RFC3339.match(value) if isinstance(value, str) else None
    if found is None:
        return False
    day, minutes, seconds, fraction, offset = found.groups()
    seconds = "59" if seconds == "60" else seconds  # a leap second is valid RFC 3339
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        datetime.fromisoformat(f"{day}T{minutes}:{seconds}{offset}")
    except ValueError:
        return False
    return fraction is None or len(fraction) > 1


# --- what no schema can say ------------------------------------------------------------------


def configuration_findings(config: Any) -> list[Finding]:
    """The model configuration schema, plus each ``filter_type`` at most once."""
    return schema_findings(configuration_validator(), config) + duplicate_filters(config)


def duplicate_filters(config: Any) -> list[Finding]:
    found: list[Finding] = []
    first_seen: dict[str, int] = {}
    filters = config.get("safety_filters") if isinstance(config, dict) else None
    for index, item in enumerate(filters if isinstance(filters, list) else ()):
        filter_type = item.get("filter_type") if isinstance(item, dict) else None
        if not isinstance(filter_type, str):
            continue
        if filter_type in first_seen:
            message = f"filter_type {filter_type!r} appears more than once (first at safety_filters[{first_seen[filter_type]}])"
            found.append(Finding(("safety_filters", index, "filter_type"), message))
        else:
            first_seen[filter_type] = index
    return found


def model_findings(config: Mapping[str, Any], model_id: str, capabilities: Capabilities) -> list[Finding]:
    """The rules that depend on the model: its capabilities and its id.

    Only values of the right type are judged (a wrong type is the schema's
    finding), so this runs safely on any body.
    """
    found: list[Finding] = []
    max_tokens = config.get("max_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > capabilities.max_context_window:
        found.append(Finding(("max_tokens",), f"{max_tokens} exceeds the model's max_context_window of {capabilities.max_context_window}"))
    filters = config.get("safety_filters")
    for index, item in enumerate(filters if isinstance(filters, list) else ()):
        if not isinstance(item, dict):
            continue
        filter_type = item.get("filter_type")
        if isinstance(filter_type, str) and filter_type in capabilities.restricted_safety_filters and item.get("action") == "block":
            message = f"filter {filter_type!r} is restricted on this model and may not use 'block' (use 'redact' or 'flag')"
            found.append(Finding(("safety_filters", index, "action"), message))
    given = config.get("model_id")
    if isinstance(given, str) and given.lower() != model_id.lower():
        found.append(Finding(("model_id",), f"{shorten(given)} does not match the model in the path ({model_id})"))
    return found

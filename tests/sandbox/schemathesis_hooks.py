"""Schemathesis hooks for ``test_openapi.py``: the one rule the document cannot carry.

A PUT of a configuration is judged by the document's schema and by rules
that depend on the model the path names (``max_tokens`` within its
``max_context_window``, no ``block`` on a filter it restricts, ``model_id``
equal to the path's id) or that JSON Schema cannot state (each
``filter_type`` at most once).  The contract answers 400 for those, so a
schema-valid PUT may rightly get 400; the test's configuration lets
``positive_data_acceptance`` accept that 400 for this one operation, and
this check makes sure such a 400 names only those rules, so nothing else
can hide behind it.
"""

from __future__ import annotations

import re
from typing import Any

import schemathesis

PUT_CONFIGURATION = ("PUT", "/api/v2/ai/models/{modelId}/configuration")
MODEL_RULES = (
    (re.compile(r"max_tokens"), "exceeds the model's max_context_window"),
    (re.compile(r"safety_filters\[\d+\]\.action"), "is restricted on this model"),
    (re.compile(r"safety_filters\[\d+\]\.filter_type"), "appears more than once"),
    (re.compile(r"model_id"), "does not match the model in the path"),
)


def _a_model_rule(error: dict[str, Any]) -> bool:
    fields = [detail.get("fieldName", "") for detail in error.get("details", [])]
    message = str(error.get("message", ""))
    return len(fields) == 1 and any(pattern.fullmatch(fields[0]) and words in message for pattern, words in MODEL_RULES)


@schemathesis.check
def valid_put_refused_only_by_a_model_rule(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schema-valid PUT answered 400 must name only rules no schema can state."""
    if (case.method.upper(), case.operation.path) != PUT_CONFIGURATION or response.status_code != 400:
        return None
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    errors = response.json().get("errors") or []
    unexplained = [error.get("message") for error in errors if not _a_model_rule(error)]
    if not errors or unexplained:
        raise AssertionError(f"a schema-valid PUT was refused for a reason the document could have stated: {unexplained or 'no errors[]'}")
    return None

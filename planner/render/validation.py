"""What ``llmplan validate --format json`` prints."""

from __future__ import annotations

import json
from typing import Iterable

from planner.model.errors import Problem


def validation_document(environment: str, models: int, warnings: Iterable[Problem] = ()) -> str:
    """``validate --format json`` of a valid environment (a failure is rendered by render.errors)."""
    document = {"environment": environment, "valid": True, "models": models, "problems": [], "warnings": [w.to_dict() for w in warnings]}
    return json.dumps(document, indent=2)


def validation_documents(results: Iterable[tuple[str, int, Iterable[Problem]]]) -> str:
    """``validate --format json`` of several valid environments: one document, a member per environment."""
    environments = {name: {"valid": True, "models": models, "problems": [], "warnings": [w.to_dict() for w in warnings]} for name, models, warnings in results}
    return json.dumps({"valid": True, "environments": environments}, indent=2)

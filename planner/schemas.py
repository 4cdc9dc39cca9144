"""Access to the JSON Schemas shipped in ``schemas/``.

The schemas are files (editors point at them from the YAML ``$schema``
comment), shipped inside the wheel as ``planner/schemas`` and read from the
repository's ``schemas/`` in a source checkout.  Validators are compiled once
per process: building one costs far more than using it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

MODEL_CONFIGURATION = "model-configuration.schema.json"
ENVIRONMENT = "environment.schema.json"
PLAN = "plan.schema.json"
STATE = "state.schema.json"
AUDIT_ENTRY = "audit-entry.schema.json"


def schemas_dir() -> Path:
    packaged = Path(__file__).with_name("schemas")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "schemas"


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict[str, Any]:
    with open(schemas_dir() / name, encoding="utf-8") as handle:
        return json.load(handle)


@lru_cache(maxsize=None)
def _registry() -> Any:
    from referencing import Registry, Resource

    resources = []
    for path in sorted(schemas_dir().glob("*.schema.json")):
        schema = load_schema(path.name)
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


@lru_cache(maxsize=None)
def validator(name: str) -> Any:
    """A compiled draft 2020-12 validator for one of our schemas."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(name), registry=_registry())

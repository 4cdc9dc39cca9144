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
def validator_class() -> Any:
    """Draft 2020-12 where ``integer`` means a whole number written as one.

    Standard JSON Schema accepts ``2048.0`` as an integer; the gateway stores
    ``2048``, so a desired ``2048.0`` would differ from live forever, and the
    capability check (an ``int`` comparison) would skip it.
    """
    from jsonschema import Draft202012Validator, validators

    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, instance: isinstance(instance, int) and not isinstance(instance, bool)
    )
    return validators.extend(Draft202012Validator, type_checker=checker)


@lru_cache(maxsize=None)
def validator(name: str) -> Any:
    """A compiled draft 2020-12 validator for one of our schemas."""
    return validator_class()(load_schema(name), registry=_registry())


def validator_for(schema: dict[str, Any]) -> Any:
    """A validator for a user's schema (an environment's policy).

    Its ``$ref`` resolve only against our own schemas: without an explicit
    registry jsonschema would fetch a remote ``$ref`` over the network, and
    ``validate`` promises to send no request.  An unresolvable reference
    raises ``referencing.exceptions.Unresolvable`` while validating.
    """
    return validator_class()(schema, registry=_registry())

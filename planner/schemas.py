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
    return FastValidator.wrap(validator_class()(load_schema(name), registry=_registry()))


def validator_for(schema: dict[str, Any]) -> Any:
    """A validator for a user's schema (an environment's policy).

    Its ``$ref`` resolve only against our own schemas: without an explicit
    registry jsonschema would fetch a remote ``$ref`` over the network, and
    ``validate`` promises to send no request.  An unresolvable reference
    raises ``referencing.exceptions.Unresolvable`` while validating.
    """
    return FastValidator.wrap(validator_class()(schema, registry=_registry()))


class FastValidator:
    """A schema compiled twice: jsonschema-rs says "valid" in microseconds,
    python-jsonschema explains what is wrong.

    A 10,000-model plan validates 10,000 documents: ~500 µs each in
    python-jsonschema (its ``$ref`` resolution dominates) against ~4 µs in
    jsonschema-rs.  The Rust validator only ever short-cuts a document it
    finds valid; anything else goes through python-jsonschema, whose answer
    and messages are authoritative.  The two differ on one rule of ours —
    python's ``integer`` refuses ``2048.0`` — so a float at a location the
    schema types ``integer`` also takes the slow path; a schema whose
    integer locations cannot be listed (behind ``anyOf``, pattern
    properties…) never takes the fast path.  Remote ``$ref`` are never
    fetched: such a schema does not compile in Rust and stays on the slow path.
    """

    def __init__(self, full: Any, fast: Any, integer_paths: tuple[tuple[str, ...], ...]) -> None:
        self.full = full
        self.fast = fast
        self.integer_paths = integer_paths

    @classmethod
    def wrap(cls, full: Any) -> Any:
        paths = _integer_paths(full.schema)
        if paths is None:
            return full
        try:
            import jsonschema_rs

            fast = jsonschema_rs.validator_for(full.schema, validate_formats=False, retriever=_refuse_retrieval)
        except Exception:  # unresolvable refs, regex dialects Rust lacks, no wheel: stay exact and slow
            return full
        return cls(full, fast, paths)

    def is_valid(self, instance: Any) -> bool:
        if self._fast_valid(instance):
            return True
        return bool(self.full.is_valid(instance))

    def iter_errors(self, instance: Any) -> Any:
        if self._fast_valid(instance):
            return iter(())
        return self.full.iter_errors(instance)

    def _fast_valid(self, instance: Any) -> bool:
        try:
            valid = self.fast.is_valid(instance)
        except Exception:  # a value Rust cannot take (huge int, odd type): ask python
            return False
        return valid and not any(_float_at(instance, path) for path in self.integer_paths)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.full, name)


def _refuse_retrieval(uri: str) -> Any:
    raise ValueError(f"not fetching {uri}: schemas are resolved offline")


_SUBSCHEMA_KEYWORDS = (
    "anyOf", "oneOf", "not", "if", "then", "else", "patternProperties", "additionalProperties",
    "prefixItems", "contains", "dependentSchemas", "unevaluatedProperties", "unevaluatedItems",
    "propertyNames", "$dynamicRef",
)


def _integer_paths(schema: Any) -> tuple[tuple[str, ...], ...] | None:
    """Instance paths (``*`` = any list item) that the schema types ``integer``,
    or None when some ``integer`` sits where this walk cannot follow."""
    found: list[tuple[str, ...]] = []

    def resolve(ref: str) -> Any:
        target: Any = schema
        for part in ref[2:].split("/"):
            if not isinstance(target, dict) or part not in target:
                raise ValueError(f"unresolvable {ref}")
            target = target[part]
        return target

    def mentions_integer(node: Any, seen: frozenset[str] = frozenset()) -> bool:
        """Could ``node`` (refs followed) type anything as integer?"""
        if isinstance(node, list):
            return any(mentions_integer(item, seen) for item in node)
        if not isinstance(node, dict):
            return node == "integer"
        ref = node.get("$ref")
        if isinstance(ref, str):
            if not ref.startswith("#/"):
                return True  # outside our reach: assume it might
            if ref not in seen and mentions_integer(resolve(ref), seen | {ref}):
                return True
        return any(mentions_integer(value, seen) for key, value in node.items() if key not in ("$ref", "enum", "const", "description", "title", "$comment", "default", "examples"))

    def follow(node: Any, path: tuple[str, ...], depth: int) -> bool:
        if depth > 32:
            return False
        if not isinstance(node, dict):
            return True
        kinds = node.get("type")
        if kinds == "integer" or (isinstance(kinds, list) and "integer" in kinds):
            found.append(path)
        ref = node.get("$ref")
        if ref is not None:
            if not isinstance(ref, str) or not ref.startswith("#/"):
                return False  # an outside reference may hide an integer
            if not follow(resolve(ref), path, depth + 1):
                return False
        for keyword in _SUBSCHEMA_KEYWORDS:
            if keyword in node and mentions_integer(node[keyword]):
                return False
        for name, sub in (node.get("properties") or {}).items():
            if not follow(sub, path + (name,), depth + 1):
                return False
        items = node.get("items")
        if isinstance(items, dict) and not follow(items, path + ("*",), depth + 1):
            return False
        return all(follow(sub, path, depth + 1) for sub in node.get("allOf") or ())

    try:
        ok = follow(schema, (), 0)
    except (TypeError, ValueError, RecursionError):
        return None
    return tuple(sorted(set(found))) if ok else None


def _float_at(instance: Any, path: tuple[str, ...]) -> bool:
    if not path:
        return type(instance) is float
    head, rest = path[0], path[1:]
    if head == "*":
        return isinstance(instance, list) and any(_float_at(item, rest) for item in instance)
    return isinstance(instance, dict) and head in instance and _float_at(instance[head], rest)

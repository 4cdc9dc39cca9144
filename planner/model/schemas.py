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
from typing import Any, Callable
from urllib.parse import urljoin

MODEL_CONFIGURATION = "model-configuration.schema.json"
ENVIRONMENT = "environment.schema.json"
PLAN = "plan.schema.json"
STATE = "state.schema.json"
AUDIT_ENTRY = "audit-entry.schema.json"
GOVERNANCE_EVENT = "governance-event.schema.json"


def schemas_dir() -> Path:
    package = Path(__file__).resolve().parent.parent  # planner/
    packaged = package / "schemas"  # in a wheel (pyproject.toml's force-include)
    if packaged.is_dir():
        return packaged
    return package.parent / "schemas"


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict[str, Any]:
    with open(schemas_dir() / name, encoding="utf-8") as handle:
        return json.load(handle)


@lru_cache(maxsize=None)
def _schemas_by_id() -> dict[str, dict[str, Any]]:
    """Our schemas by ``$id``: what a ``$ref`` may name, for both validators."""
    return {schema["$id"]: schema for schema in (load_schema(path.name) for path in sorted(schemas_dir().glob("*.schema.json")))}


@lru_cache(maxsize=None)
def _registry() -> Any:
    from referencing import Registry, Resource  # lazy: needed only to explain an invalid document

    return Registry().with_resources((schema_id, Resource.from_contents(schema)) for schema_id, schema in _schemas_by_id().items())


@lru_cache(maxsize=None)
def validator_class() -> Any:
    """Draft 2020-12 where ``integer`` means a whole number written as one.

    Standard JSON Schema accepts ``2048.0`` as an integer; the gateway stores
    ``2048``, so a desired ``2048.0`` would differ from live forever, and the
    capability check (an ``int`` comparison) would skip it.
    """
    from jsonschema import Draft202012Validator, validators  # lazy: python-jsonschema (0.1 s) only explains invalid documents

    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, instance: isinstance(instance, int) and not isinstance(instance, bool)
    )
    return validators.extend(Draft202012Validator, type_checker=checker)


@lru_cache(maxsize=None)
def validator(name: str) -> Any:
    """A compiled draft 2020-12 validator for one of our schemas."""
    return validator_for(load_schema(name))


def validator_for(schema: dict[str, Any]) -> Any:
    """A validator for one of our schemas or a user's (an environment's policy).

    Its ``$ref`` resolve only against our own schemas: without an explicit
    registry jsonschema would fetch a remote ``$ref`` over the network, and
    ``validate`` promises to send no request.  An unresolvable reference
    raises ``referencing.exceptions.Unresolvable`` while validating.
    """
    return FastValidator.compile(schema, lambda: validator_class()(schema, registry=_registry()))


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

    python-jsonschema is built (and imported: 0.12 s of start-up) only when
    a document is not valid, or when asked for one of its attributes.
    """

    def __init__(self, make_full: Callable[[], Any], fast: Any, integer_paths: tuple[tuple[str, ...], ...]) -> None:
        self._make_full = make_full
        self._full: Any = None
        self.fast = fast
        self.integer_paths = integer_paths

    @classmethod
    def compile(cls, schema: dict[str, Any], make_full: Callable[[], Any]) -> Any:
        """The fast pair when Rust can take ``schema``, else python-jsonschema's validator itself."""
        paths = _integer_paths(schema)
        if paths is None:
            return make_full()
        try:
            import jsonschema_rs  # lazy: only when a validator is first compiled (0.04 s to import)

            fast = jsonschema_rs.validator_for(schema, validate_formats=False, retriever=_local_retrieval)
        except Exception:  # unresolvable refs, regex dialects Rust lacks, no wheel: stay exact and slow
            return make_full()
        return cls(make_full, fast, paths)

    @property
    def full(self) -> Any:
        """python-jsonschema's validator, the authority on what is wrong (built at first need)."""
        if self._full is None:
            self._full = self._make_full()  # two threads may both build it: same result, no harm
        return self._full

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
        if name.startswith("_"):  # not forwarded: keeps copy/pickle from recursing before __init__
            raise AttributeError(name)
        return getattr(self.full, name)


def _local_retrieval(uri: str) -> Any:
    """One of our own schemas by its ``$id``; nothing is ever fetched."""
    schema = _schemas_by_id().get(uri.partition("#")[0])
    if schema is None:
        raise ValueError(f"not fetching {uri}: schemas are resolved offline")
    return schema


_SUBSCHEMA_KEYWORDS = (
    "anyOf", "oneOf", "not", "if", "then", "else", "patternProperties", "additionalProperties",
    "prefixItems", "contains", "dependentSchemas", "unevaluatedProperties", "unevaluatedItems",
    "propertyNames", "$dynamicRef",
)


ANY_VALUE = "{}"  # in an integer path: the value of any property of an object


def _integer_paths(schema: Any) -> tuple[tuple[str, ...], ...] | None:
    """Instance paths (``*`` = any list item, ``{}`` = any property's value)
    that the schema types ``integer``, or None when some ``integer`` sits
    where this walk cannot follow.

    ``$ref`` are followed inside the schema and into our own schemas (the
    environment's defaults refer to the model configuration's rules)."""
    found: list[tuple[str, ...]] = []
    Document = tuple[Any, str]  # a schema document and the base its relative refs resolve against

    def resolve(ref: str, document: Document) -> tuple[Any, Document, str]:
        """The node a ``$ref`` points at, the document it is in, and its full address."""
        root, base = document
        address, _, fragment = urljoin(base, ref).partition("#")
        if address != base:
            root = _schemas_by_id().get(address)
            if root is None:
                raise ValueError(f"unresolvable {ref}")
            document = (root, address)
        target: Any = root
        for part in fragment.split("/")[1:] if fragment else ():
            if not isinstance(target, dict) or part not in target:
                raise ValueError(f"unresolvable {ref}")
            target = target[part]
        return target, document, f"{address}#{fragment}"

    def mentions_integer(node: Any, document: Document, seen: frozenset[str] = frozenset()) -> bool:
        """Could ``node`` (refs followed) type anything as integer?"""
        if isinstance(node, list):
            return any(mentions_integer(item, document, seen) for item in node)
        if not isinstance(node, dict):
            return node == "integer"
        ref = node.get("$ref")
        if isinstance(ref, str):
            try:
                target, where, address = resolve(ref, document)
            except ValueError:
                return True  # outside our reach: assume it might
            if address not in seen and mentions_integer(target, where, seen | {address}):
                return True
        return any(mentions_integer(value, document, seen) for key, value in node.items() if key not in ("$ref", "enum", "const", "description", "title", "$comment", "default", "examples"))

    def follow(node: Any, path: tuple[str, ...], document: Document, depth: int) -> bool:
        if depth > 32:
            return False
        if not isinstance(node, dict):
            return True
        kinds = node.get("type")
        if kinds == "integer" or (isinstance(kinds, list) and "integer" in kinds):
            found.append(path)
        ref = node.get("$ref")
        if ref is not None:
            if not isinstance(ref, str):
                return False
            target, where, _ = resolve(ref, document)  # ValueError: an unknown reference may hide an integer
            if not follow(target, path, where, depth + 1):
                return False
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and not follow(extra, path + (ANY_VALUE,), document, depth + 1):
            return False
        for keyword in _SUBSCHEMA_KEYWORDS:
            if keyword != "additionalProperties" and keyword in node and mentions_integer(node[keyword], document):
                return False
        for name, sub in (node.get("properties") or {}).items():
            if not follow(sub, path + (name,), document, depth + 1):
                return False
        items = node.get("items")
        if isinstance(items, dict) and not follow(items, path + ("*",), document, depth + 1):
            return False
        return all(follow(sub, path, document, depth + 1) for sub in node.get("allOf") or ())

    try:
        base = str(schema["$id"]) if isinstance(schema, dict) and isinstance(schema.get("$id"), str) else ""
        ok = follow(schema, (), (schema, base), 0)
    except (TypeError, ValueError, RecursionError):
        return None
    return tuple(sorted(set(found))) if ok else None


def _float_at(instance: Any, path: tuple[str, ...]) -> bool:
    if not path:
        return type(instance) is float
    head, rest = path[0], path[1:]
    if head == "*":
        return isinstance(instance, list) and any(_float_at(item, rest) for item in instance)
    if head == ANY_VALUE:  # any property's value, named or not: checks more than needed, never less
        return isinstance(instance, dict) and any(_float_at(item, rest) for item in instance.values())
    return isinstance(instance, dict) and head in instance and _float_at(instance[head], rest)

"""The sandbox's OpenAPI document: served as is, and the source of its admin rules.

``schemas/gateway-openapi.yaml`` describes every endpoint.  The admin
bodies (``POST /__sandbox/faults``, ``POST /__sandbox/models``, ``PATCH
…/configuration``) are validated against its component schemas themselves,
so what the document allows and what the server accepts cannot drift apart.
OpenAPI 3.0 schemas are a dialect of JSON Schema; :func:`json_schema`
translates the three differences that matter here (``nullable``, boolean
``exclusiveMinimum``/``exclusiveMaximum``, and OpenAPI-only keywords).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import yaml

from planner.model import schemas

OPENAPI_FILE = "gateway-openapi.yaml"
COMPONENTS = "#/components/schemas/"

# Keywords whose value is one schema, or a list of schemas.
_ONE_SCHEMA = ("items", "not", "additionalProperties")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_OPENAPI_ONLY = ("nullable", "example", "discriminator", "xml", "externalDocs", "deprecated", "readOnly", "writeOnly")


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    """The document as written (parsed once per process; libyaml when present)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(schemas.schemas_dir() / OPENAPI_FILE, encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader
    return loaded


def json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 Schema Object as the JSON Schema (draft 2020-12) that means the same."""
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key in _OPENAPI_ONLY or key in ("exclusiveMinimum", "exclusiveMaximum"):
            continue
        if key == "properties":
            result[key] = {name: json_schema(sub) for name, sub in value.items()}
        elif key in _ONE_SCHEMA:
            result[key] = json_schema(value)
        elif key in _SCHEMA_LISTS:
            result[key] = [json_schema(sub) for sub in value]
        else:
            result[key] = value
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if node.get(exclusive) is True and bound in node:
            result[exclusive] = result.pop(bound)
    if node.get("nullable") is True:
        if "type" in result:
            result["type"] = [result["type"], "null"]
        if "enum" in result:
            result["enum"] = [*result["enum"], None]
    return result


@lru_cache(maxsize=None)
def validator(component: str) -> Any:
    """A validator of one component schema (``FaultSettingsInput``…), its ``$ref`` resolved in the document."""
    converted = {name: json_schema(schema) for name, schema in document()["components"]["schemas"].items()}
    if component not in converted:
        raise KeyError(f"{OPENAPI_FILE} has no component schema {component!r}")
    root = {"$ref": COMPONENTS + component, "components": {"schemas": converted}}
    return schemas.validator_for(root)

"""Turning live configurations into model files, as a person would write them.

Pure: choosing addresses for adopted models and rendering their YAML in the
canonical layout of the example environments (one flow mapping per filter,
the ``$schema`` header for editors).  Writing the files is the caller's job.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable, Mapping

from planner.configuration import TEMPERATURE_KEYS
from planner.diff import configuration_hash, to_payload
from planner.yamlsource import parse_yaml

SCHEMA_HEADER = "# yaml-language-server: $schema=../../../schemas/model-configuration.schema.json"
FILTER_KEYS = ("filter_type", "action", "threshold")
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def slug(name: str) -> str:
    """A model's display name as an address: ``Claude Support (EU)`` → ``claude-support-eu``."""
    text = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")
    return re.sub(r"-{2,}", "-", text)


def choose_addresses(models: Iterable[tuple[str, str]], taken: Iterable[str]) -> dict[str, str]:
    """Address per model id for ``(model_id, name)`` pairs, unique against
    ``taken`` and each other (``-2``, ``-3`` … on collision)."""
    used = set(taken)
    chosen: dict[str, str] = {}
    for model_id, name in sorted(models, key=lambda pair: (slug(pair[1]), pair[0])):
        base = slug(name) or f"model-{model_id[:8].lower()}"
        address, number = base, 2
        while address in used:
            address, number = f"{base}-{number}", number + 1
        used.add(address)
        chosen[model_id] = address
    return chosen


def _scalar(value: Any) -> str:
    if isinstance(value, str) and _PLAIN.match(value) and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value, ensure_ascii=False)  # JSON scalars are valid YAML


def _flow(mapping: Mapping[str, Any], order: Iterable[str]) -> str:
    keys = [key for key in order if key in mapping] + [key for key in mapping if key not in order]
    return "{" + ", ".join(f"{key}: {_scalar(mapping[key])}" for key in keys) + "}"


def model_yaml(configuration: Mapping[str, Any]) -> str:
    """The model file for a live configuration; reading it back gives the
    same configuration (checked, so a formatting bug cannot adopt the wrong
    values)."""
    payload = to_payload(configuration)
    lines = [SCHEMA_HEADER, f"model_id: {payload['model_id']}"]
    lines.append(f"temperature_matrix: {_flow(payload['temperature_matrix'], TEMPERATURE_KEYS)}")
    lines.append("safety_filters:")
    lines.extend(f"  - {_flow(item, FILTER_KEYS)}" for item in payload["safety_filters"])
    lines.append(f"max_tokens: {_scalar(payload['max_tokens'])}")
    lines.append(f"compliance_mode: {_scalar(payload['compliance_mode'])}")
    text = "\n".join(lines) + "\n"
    document, problems = parse_yaml(text, "imported model")
    if problems or document is None or configuration_hash(document.data) != configuration_hash(payload):
        raise AssertionError(f"imported YAML does not read back as the live configuration: {problems}")
    return text

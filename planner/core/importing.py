"""Turning live configurations into model files, as a person would write them.

Pure: choosing addresses for adopted models and rendering their YAML in the
canonical layout of the example environments (one flow mapping per filter,
the ``$schema`` header for editors).  Writing the files is the caller's job.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, Iterable, Mapping

from planner.core.diff import configuration_hash, to_payload
from planner.core.yamlsource import parse_yaml
from planner.model.configuration import TEMPERATURE_KEYS

SCHEMA_HEADER = "# yaml-language-server: $schema=../../../schemas/model-configuration.schema.json"
FILTER_KEYS = ("filter_type", "action", "threshold")
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# Long enough for any real model name, far below the 255-byte file-name limit.
MAX_SLUG_LENGTH = 64
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def slug(name: str) -> str:
    """A model's display name as an address: ``Claude Support (EU)`` → ``claude-support-eu``.

    Accents are transliterated (``Bót`` → ``bot``) rather than dropped with
    their letter, and the result is capped so it stays a valid file name.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9_-]+", "-", ascii_name.lower()).strip("-_")
    return re.sub(r"-{2,}", "-", text)[:MAX_SLUG_LENGTH].rstrip("-_")


def choose_addresses(models: Iterable[tuple[str, str]], taken: Iterable[str]) -> dict[str, str]:
    """Address per model id for ``(model_id, name)`` pairs, unique against
    ``taken`` and each other (``-2``, ``-3`` … on collision).

    Plain names are handed out first, so a model really named ``Bot 2`` keeps
    ``bot-2`` even when two models named ``Bot`` collide; among equal names the
    smaller id keeps the plain one.  Deterministic whatever the input order.
    """
    used = set(taken)
    bases = {model_id: slug(name) or f"model-{model_id[:8].lower()}" for model_id, name in models}
    order = sorted(bases, key=lambda model_id: (bases[model_id], model_id.lower()))
    chosen: dict[str, str] = {}
    for model_id in order:
        if bases[model_id] not in used:
            chosen[model_id] = bases[model_id]
            used.add(bases[model_id])
    for model_id in order:
        if model_id in chosen:
            continue
        number = 2
        while f"{bases[model_id]}-{number}" in used:
            number += 1
        chosen[model_id] = f"{bases[model_id]}-{number}"
        used.add(chosen[model_id])
    return chosen


def _scalar(value: Any) -> str:
    if isinstance(value, str) and _PLAIN.match(value) and value.lower() not in _YAML_WORDS:
        return value
    if isinstance(value, float):
        return _float(value)
    return json.dumps(value, ensure_ascii=False)  # JSON scalars are valid YAML


def _float(value: float) -> str:
    """A float that YAML 1.1 (PyYAML) reads as a float: ``1e-05`` would be a
    string to it, so the mantissa always gets a dot (``1.0e-05``)."""
    text = repr(value)
    mantissa, _, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{exponent}" if exponent else mantissa


def _flow(mapping: Mapping[str, Any], order: Iterable[str]) -> str:
    keys = [key for key in order if key in mapping] + [key for key in mapping if key not in order]
    return "{" + ", ".join(f"{key}: {_scalar(mapping[key])}" for key in keys) + "}"


def model_yaml(configuration: Mapping[str, Any]) -> str:
    """The model file for a live configuration; reading it back gives the
    same configuration (checked, so a formatting bug cannot adopt the wrong
    values)."""
    payload = to_payload(configuration)
    lines = [SCHEMA_HEADER, f"model_id: {payload['model_id']}"]
    # temperatures are written as the examples write them, always with a dot (1.0, 0.0)
    temperatures = {key: float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value for key, value in payload["temperature_matrix"].items()}
    lines.append(f"temperature_matrix: {_flow(temperatures, TEMPERATURE_KEYS)}")
    lines.append("safety_filters:")
    lines.extend(f"  - {_flow(item, FILTER_KEYS)}" for item in payload["safety_filters"])
    lines.append(f"max_tokens: {_scalar(payload['max_tokens'])}")
    lines.append(f"compliance_mode: {_scalar(payload['compliance_mode'])}")
    text = "\n".join(lines) + "\n"
    document, problems = parse_yaml(text, "imported model")
    if problems or document is None or configuration_hash(document.data) != configuration_hash(payload):
        raise AssertionError(f"imported YAML does not read back as the live configuration: {problems}")
    return text

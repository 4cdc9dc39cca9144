"""What a model configuration is, independent of where it comes from.

The YAML loader, the diff, the audit trail and the sandbox all need the same
answers: which fields are the configuration, which are read-only bookkeeping
of the gateway, what the defaults are, and what the canonical bytes (and hash)
of a configuration are.  They live here, once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping

FIELDS = ("model_id", "temperature_matrix", "safety_filters", "max_tokens", "compliance_mode")
READ_ONLY_FIELDS = ("version", "modifiedDate", "selfUri")
DEFAULTS: Mapping[str, Any] = {"compliance_mode": "standard"}
TEMPERATURE_KEYS = ("default", "creative", "precise")
FILTER_TYPES = ("profanity", "pii", "self_harm", "political")


@dataclass(frozen=True)
class Capabilities:
    """What the live model can do, as ``GET /api/v2/ai/models/{id}`` reports."""

    max_context_window: int
    restricted_safety_filters: frozenset[str] = frozenset()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "Capabilities":
        return cls(
            max_context_window=int(data["max_context_window"]),
            restricted_safety_filters=frozenset(data.get("restricted_safety_filters") or ()),
        )

    def to_api(self) -> dict[str, Any]:
        return {
            "max_context_window": self.max_context_window,
            "restricted_safety_filters": sorted(self.restricted_safety_filters),
        }


def with_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration fields only, documented defaults filled in.

    Read-only fields the gateway adds (``version``…) are dropped, so a live
    configuration and a desired one can be compared field for field.
    """
    result = {key: value for key, value in config.items() if key not in READ_ONLY_FIELDS}
    for key, value in DEFAULTS.items():
        result.setdefault(key, value)
    return result


def canonical_json(data: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 text, no NaN."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(text: str | bytes) -> str:
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def payload_hash(payload: Any) -> str:
    """sha256 of the canonical JSON of ``payload``, as the audit trail records it."""
    return sha256_hex(canonical_json(payload))

"""Resources and audit fields the record-keeping tests (and the contract suite) record."""

from __future__ import annotations

from typing import Any

from planner.model.state import ResourceState

MODEL_IDS = [f"a1b2c3d4-e5f6-7890-abcd-{index:012x}" for index in range(1, 2001)]


def make_resource(index: int, *, version: int = 1, max_tokens: int = 2048, address: str | None = None) -> ResourceState:
    model_id = MODEL_IDS[index]
    return ResourceState(
        address=address or f"model-{index:04d}",
        model_id=model_id,
        configuration={
            "model_id": model_id,
            "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.3},
            "safety_filters": [{"filter_type": "pii", "action": "redact", "threshold": 85}],
            "max_tokens": max_tokens,
            "compliance_mode": "strict",
        },
        version=version,
        payload_hash="ab" * 32,
        applied_at="2026-11-25T10:00:00.000Z",
        capabilities={"max_context_window": 4096, "restricted_safety_filters": ["political"]},
    )


def update_fields(index: int, *, status: str = "success", **extra: Any) -> dict[str, Any]:
    """The fields apply passes to an audit store's append for one model."""
    fields: dict[str, Any] = {
        "model_id": MODEL_IDS[index],
        "address": f"model-{index:04d}",
        "environment": "dev",
        "action": "configuration_update",
        "status": status,
        "latency_ms": 12.5,
        "payload_hash": "ab" * 32,
        "compliance_mode": "strict",
        "plan_checksum": None,
    }
    if status == "failure":
        fields.update(error_code="bad.request", error_message="max_tokens 9000 exceeds model capability limit of 4096")
    fields.update(extra)
    return fields

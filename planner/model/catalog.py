"""The sandbox gateway's demo models, shared with the example environments.

The example YAML under ``environments/`` names these ids, and the sandbox
serves them; keeping both in one module means the demo and the tests cannot
drift apart.  Generated models (``generated_models``) give benchmarks
thousands of models with stable ids.
"""

from __future__ import annotations

import uuid
from typing import Any

# Namespace for generated model ids: uuid5(namespace, "model-<n>") is stable
# across runs and machines, so a benchmark environment written once keeps
# matching the sandbox started later.
GENERATED_NAMESPACE = uuid.UUID("6f1c1f3e-2a59-4c36-9d44-7e3f4f0a9b21")

DEMO_MODELS: tuple[dict[str, Any], ...] = (
    {
        "id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
        "name": "claude-support",
        "capabilities": {"max_context_window": 4096, "restricted_safety_filters": ["political"]},
    },
    {
        "id": "b2c3d4e5-f6a7-4890-9bcd-ef1234567891",
        "name": "gpt-summarizer",
        "capabilities": {"max_context_window": 8192, "restricted_safety_filters": []},
    },
    {
        "id": "c3d4e5f6-a7b8-4901-8cde-f12345678902",
        "name": "llama-intent-router",
        "capabilities": {"max_context_window": 2048, "restricted_safety_filters": ["political", "profanity"]},
    },
    {
        "id": "d4e5f6a7-b8c9-4012-9def-123456789013",
        "name": "mistral-agent-assist",
        "capabilities": {"max_context_window": 8192, "restricted_safety_filters": ["self_harm"]},
    },
    {
        "id": "e5f6a7b8-c9d0-4123-8ef0-234567890124",
        "name": "gemini-translate",
        "capabilities": {"max_context_window": 6144, "restricted_safety_filters": []},
    },
    {
        "id": "f6a7b8c9-d0e1-4234-9f01-345678901235",
        "name": "claude-quality-review",
        "capabilities": {"max_context_window": 8192, "restricted_safety_filters": ["political"]},
    },
)


def generated_model_id(index: int) -> str:
    return str(uuid.uuid5(GENERATED_NAMESPACE, f"model-{index}"))


def generated_models(count: int) -> list[dict[str, Any]]:
    """``count`` extra models for benchmarks: ``bench-00001`` … with stable ids."""
    return [
        {
            "id": generated_model_id(i),
            "name": f"bench-{i:05d}",
            "capabilities": {"max_context_window": 8192, "restricted_safety_filters": []},
        }
        for i in range(1, count + 1)
    ]

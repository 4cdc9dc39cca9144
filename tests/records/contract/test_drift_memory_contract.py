"""Records.remember_drift / last_drift: the last drift check of each environment, kept for
`llmplan report --offline` — on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from planner.adapters.records.interfaces import DriftMemory, Records
from tests.records.contract.contract_backends import Backend


@pytest.fixture
def memory(records: Records) -> DriftMemory:
    assert isinstance(records, DriftMemory)  # every backend remembers drift
    return records


def result(checked_at: str, *drifted: str) -> dict[str, Any]:
    return {
        "format_version": 1,
        "environment": "dev",
        "checked_at": checked_at,
        "models": 3,
        "unmanaged": 0,
        "drifted": [{"address": address, "kind": "changed_outside", "changes": [{"path": "max_tokens", "before": 512, "after": 1024}]} for address in drifted],
    }


def test_nothing_is_remembered_before_the_first_drift_check(memory: DriftMemory) -> None:
    assert memory.last_drift() is None


def reopened(backend: Backend, environment: str = "dev") -> DriftMemory:
    """The same records opened again, as another process or checkout would."""
    records = backend.open(environment)
    assert isinstance(records, DriftMemory)
    return records


def test_the_last_result_is_kept_and_replaces_the_one_before(backend: Backend, memory: DriftMemory) -> None:
    first = result("2026-11-25T10:00:00.000Z", "support-bot", "summarizer")
    memory.remember_drift(first)
    assert reopened(backend).last_drift() == first

    second = result("2026-11-25T11:00:00.000Z")
    memory.remember_drift(second)
    assert reopened(backend).last_drift() == second


def test_each_environment_keeps_its_own(backend: Backend, memory: DriftMemory) -> None:
    memory.remember_drift(result("2026-11-25T10:00:00.000Z", "support-bot"))
    other = reopened(backend, "prod")
    assert other.last_drift() is None
    other.remember_drift({**result("2026-11-25T12:00:00.000Z"), "environment": "prod"})
    assert memory.last_drift() == result("2026-11-25T10:00:00.000Z", "support-bot")

"""Records.remember_drift / last_drift: the last drift check of each environment, kept for
`llmplan report --offline` — on every backend."""

from __future__ import annotations

from typing import Any

from contract_backends import Backend

from planner.records import open_records
from planner.records.interfaces import Records


def result(checked_at: str, *drifted: str) -> dict[str, Any]:
    return {
        "format_version": 1,
        "environment": "dev",
        "checked_at": checked_at,
        "models": 3,
        "unmanaged": 0,
        "drifted": [{"address": address, "kind": "changed_outside", "changes": [{"path": "max_tokens", "before": 512, "after": 1024}]} for address in drifted],
    }


def test_nothing_is_remembered_before_the_first_drift_check(records: Records) -> None:
    assert records.last_drift() is None


def test_the_last_result_is_kept_and_replaces_the_one_before(backend: Backend, records: Records) -> None:
    first = result("2026-11-25T10:00:00.000Z", "support-bot", "summarizer")
    records.remember_drift(first)
    assert backend.open().last_drift() == first  # another process, another checkout

    second = result("2026-11-25T11:00:00.000Z")
    records.remember_drift(second)
    assert backend.open().last_drift() == second


def test_each_environment_keeps_its_own(backend: Backend, records: Records) -> None:
    records.remember_drift(result("2026-11-25T10:00:00.000Z", "support-bot"))
    other = open_records("prod", backend.root, backend.settings, environ=backend.environ)
    backend.opened.append(other)
    assert other.last_drift() is None
    other.remember_drift({**result("2026-11-25T12:00:00.000Z"), "environment": "prod"})
    assert records.last_drift() == result("2026-11-25T10:00:00.000Z", "support-bot")

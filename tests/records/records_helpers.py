"""Resources and audit fields the record-keeping tests (and the contract suite) record."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from planner.adapters.records.interfaces import Change, Lease, Records, StateSnapshot
from planner.adapters.records.local import LocalRecords
from planner.model.configuration import canonical_json
from planner.model.state import ResourceState, State

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


@contextmanager
def holding(records: Records, operation: str = "test") -> Iterator[Lease]:
    """The environment's lock, held for the block: every write needs its lease."""
    lease = records.locker.lock(operation)
    try:
        yield lease
    finally:
        records.locker.unlock(lease)


def append(records: Records, *all_fields: dict[str, Any]) -> list[dict[str, Any]]:
    """Audit entries that change no state and announce nothing, appended under the lock as a command would."""
    with holding(records) as lease:
        return [recorded.entry for recorded in records.record(lease, [Change(audit_fields=fields) for fields in all_fields]) if recorded.entry is not None]


def checkpoint(records: Records) -> None:
    """What the end of every command does: commit, which moves the checkpoint."""
    with holding(records) as lease:
        records.commit(lease)


def local_records(directory: Path, environment: str = "dev") -> LocalRecords:
    return LocalRecords(directory, environment=environment)


def queue(outbox: Any, event: dict[str, Any]) -> None:
    """An event in a local outbox, durable, as a unit of work would have left it (for tests of delivery alone)."""
    outbox.append_lines([canonical_json(event)])
    outbox.sync()


class StateDriver:
    """A local state driven the way the tests of state files drive it: each call one unit of work under the lock.

    ``lineage``: the lineage the records must find (as a saved plan's apply expects one).
    """

    def __init__(self, directory: Path, *, lineage: str | None = None, environment: str = "dev") -> None:
        self.records = LocalRecords(directory, environment=environment)
        self.records.state.lineage = lineage

    def record(self, resource: ResourceState) -> None:
        with holding(self.records) as lease:
            self.records.record(lease, [Change(resource=resource)])

    def forget(self, address: str) -> None:
        with holding(self.records) as lease:
            self.records.record(lease, [Change(forget=address)])

    def commit(self) -> State:
        with holding(self.records) as lease:
            return self.records.commit(lease)

    def snapshot(self) -> StateSnapshot:
        return self.records.state.read()

    def read(self) -> State | None:
        return self.snapshot().state

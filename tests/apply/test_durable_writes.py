"""An apply makes one durable write per change on each lane's path, not two: the outcome of the change
a lane just sent goes to disk with the intent of the next one (guards the speed of the latency-bound apply).

The writes are counted by wrapping the local records' flush (one fsync of the journal each) around a real
apply through the CLI against the sandbox; what is written is checked from the audit trail.
"""

from __future__ import annotations

from typing import Any, Sequence

import pytest

from planner.adapters.records.local import LocalRecords
from tests.apply.project import ApplyProject


def test_each_change_costs_one_durable_write_on_a_lane(project: ApplyProject, monkeypatch: pytest.MonkeyPatch) -> None:
    project.write_environment(parallelism=1)
    project.add_generated(6)  # six first configurations, sent one after another by the one lane
    flushes: list[list[str]] = []
    original = LocalRecords._flush

    def counting(self: LocalRecords, batches: Sequence[Any]) -> Any:
        flushes.append([str(change.audit_fields.get("status")) for _, changes in batches for change in changes if change.audit_fields is not None])
        return original(self, batches)

    monkeypatch.setattr(LocalRecords, "_flush", counting)
    done = project.run("apply", "--env", "dev", "--auto-approve", "--parallelism", "1")

    assert done.code == 0, str(done)
    assert "Apply complete: 6 succeeded, 0 failed, 0 not attempted." in done.stdout
    # the first intent alone; then each outcome with the next intent; the last outcome alone: 7 writes for 6 changes, not 12
    assert flushes == [["pending"], *[["success", "pending"]] * 5, ["success"]]
    entries = [entry for entry in project.audit() if entry.get("action") == "configuration_update"]
    assert [entry["status"] for entry in entries] == ["pending", *["success", "pending"] * 5, "success"]
    assert all(entries[i]["operation_id"] == entries[i + 1]["operation_id"] for i in range(0, 12, 2))  # each intent, then its outcome

"""SIGKILL at a random instant: state stays readable, nothing acknowledged is lost, the trail verifies or is repairable."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Callable

from planner.adapters.records.local import LocalRecords
from tests.records.records_helpers import holding

RECORD_IN_A_LOOP = """
import sys
from pathlib import Path
from planner.adapters.records.interfaces import Change
from planner.adapters.records.local import LocalRecords
from planner.model.state import ResourceState

directory, start = Path(sys.argv[1]), int(sys.argv[2])
records = LocalRecords(directory, environment="dev")
lease = records.locker.lock("apply")
print("ready", flush=True)
for index in range(start, start + 100_000):
    model_id = f"a1b2c3d4-e5f6-7890-abcd-{index % 50:012x}"
    configuration = {"model_id": model_id, "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.3},
                     "safety_filters": [{"filter_type": "pii", "action": "redact", "threshold": 85}],
                     "max_tokens": 1 + index % 4096, "compliance_mode": "strict", "note": "x" * 2000}
    fields = {"model_id": model_id, "address": f"model-{index % 50:02d}", "environment": "dev",
              "action": "configuration_update", "status": "success", "latency_ms": 1.5, "payload_hash": "ab" * 32,
              "compliance_mode": "strict", "version": index, "plan_checksum": "y" * 3000}
    resource = ResourceState(f"model-{index % 50:02d}", model_id, configuration, index, "ab" * 32, "2026-11-25T10:00:00.000Z")
    records.record(lease, [Change(audit_fields=fields, resource=resource)])
    if index % 7 == 6:
        records.commit(lease)
    print(index, flush=True)
"""

TRIALS = 5


def test_sigkill_at_random_instants_loses_nothing_acknowledged(tmp_path: Path, spawn: Callable) -> None:
    directory = tmp_path / "state" / "dev"
    rng = random.Random(20261125)
    acknowledged: dict[str, int] = {}  # address -> highest version the child reported durable
    audit_entries_expected = 0
    for trial in range(TRIALS):
        child = spawn(RECORD_IN_A_LOOP, str(directory), str(trial * 100_000))
        assert child.line() == "ready"
        for _ in range(rng.randint(1, 40)):
            index = int(child.line())
            acknowledged[f"model-{index % 50:02d}"] = index
            audit_entries_expected += 1
        child.kill()  # SIGKILL, wherever the child is: mid-append, mid-commit, between the two

        records = LocalRecords(directory, environment="dev")
        with holding(records, "apply") as lease:  # the dead holder left no lock behind
            state = records.refresh(lease).state  # the trail caught up from the journal
            assert state is not None
            for address, version in acknowledged.items():
                assert state.resources[address].version >= version, (trial, address)

            report = records.audit.verify()
            assert report.ok, report.problem  # a kill never tears a line the journal does not hold
            updates = [entry for entry in records.audit.entries() if entry["action"] == "configuration_update"]
            assert len(updates) >= audit_entries_expected

            committed = records.commit(lease)
        assert committed.lineage == state.lineage and committed.resources == state.resources
        assert not (directory / "journal.jsonl").exists()
        assert LocalRecords(directory, environment="dev").state.read().state == committed
    assert len(acknowledged) > 0

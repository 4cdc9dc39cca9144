"""SIGKILL at a random instant: state stays readable, nothing acknowledged is lost, the trail verifies or is repairable."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Callable

from planner.adapters.records.local_audit import LocalAuditStore
from planner.adapters.records.local_lock import LocalLocker
from planner.adapters.records.local_state import LocalStateStore

RECORD_IN_A_LOOP = """
import sys
from pathlib import Path
from planner.adapters.records.local_audit import LocalAuditStore
from planner.adapters.records.local_lock import LocalLocker
from planner.adapters.records.local_state import LocalStateStore
from planner.model.state import ResourceState

directory, start = Path(sys.argv[1]), int(sys.argv[2])
backend = LocalStateStore(directory)
lock = LocalLocker(directory).lock("apply")
audit = LocalAuditStore(directory / "audit.jsonl")
print("ready", flush=True)
for index in range(start, start + 100_000):
    model_id = f"a1b2c3d4-e5f6-7890-abcd-{index % 50:012x}"
    configuration = {"model_id": model_id, "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.3},
                     "safety_filters": [{"filter_type": "pii", "action": "redact", "threshold": 85}],
                     "max_tokens": 1 + index % 4096, "compliance_mode": "strict", "note": "x" * 2000}
    backend.record(ResourceState(f"model-{index % 50:02d}", model_id, configuration, index, "ab" * 32, "2026-11-25T10:00:00.000Z"))
    audit.append({"model_id": model_id, "address": f"model-{index % 50:02d}", "environment": "dev",
                  "action": "configuration_update", "status": "success", "latency_ms": 1.5, "payload_hash": "ab" * 32,
                  "compliance_mode": "strict", "version": index, "plan_checksum": "y" * 3000})
    if index % 7 == 6:
        backend.commit()
    print(index, flush=True)
"""

TRIALS = 5


def test_sigkill_at_random_instants_loses_nothing_acknowledged(tmp_path: Path, spawn: Callable) -> None:
    directory = tmp_path / "state" / "dev"
    rng = random.Random(20261125)
    acknowledged: dict[str, int] = {}  # address -> highest version the child reported durable
    audit_entries_expected = 0
    repairs = 0
    for trial in range(TRIALS):
        child = spawn(RECORD_IN_A_LOOP, str(directory), str(trial * 100_000))
        assert child.line() == "ready"
        for _ in range(rng.randint(1, 40)):
            index = int(child.line())
            acknowledged[f"model-{index % 50:02d}"] = index
            audit_entries_expected += 1
        child.kill()  # SIGKILL, wherever the child is: mid-append, mid-commit, between the two

        backend = LocalStateStore(directory)
        locker = LocalLocker(directory)
        lock = locker.lock("apply")  # the dead holder left no lock behind

        state = backend.read()
        assert state is not None
        for address, version in acknowledged.items():
            assert state.resources[address].version >= version, (trial, address)

        audit = LocalAuditStore(directory / "audit.jsonl")
        report = audit.verify()
        if not report.ok:
            assert report.torn_tail and report.first_bad_line == report.entries + 1, report.problem
            assert audit.repair().repaired
            repairs += 1
            assert audit.verify().ok
        updates = [entry for entry in audit.entries() if entry["action"] == "configuration_update"]
        assert len(updates) >= audit_entries_expected

        committed = backend.commit()
        assert committed.lineage == state.lineage and committed.resources == state.resources
        assert not (directory / "journal.jsonl").exists()
        assert LocalStateStore(directory).read() == committed
        locker.unlock(lock)
    assert len(acknowledged) > 0

"""Group commit: units of work that arrive while a durable write is in flight share the next one,
and nobody is told "recorded" before the write that holds their unit."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Sequence

import pytest

from planner.adapters.records.group_commit import GroupCommit
from planner.adapters.records.interfaces import Change
from tests.records.records_helpers import holding, local_records, make_resource, update_fields


def test_what_arrives_during_a_flush_is_flushed_together_next() -> None:
    first_flush_started, release = threading.Event(), threading.Event()
    flushed: list[list[int]] = []

    def flush(items: Sequence[int]) -> list[int]:
        flushed.append(list(items))
        if len(flushed) == 1:
            first_flush_started.set()
            assert release.wait(10)
        return [item * 10 for item in items]

    group: GroupCommit[int, int] = GroupCommit(flush)
    results: dict[int, int] = {}
    leader = threading.Thread(target=lambda: results.__setitem__(0, group.submit(0)))
    leader.start()
    assert first_flush_started.wait(10)
    followers = [threading.Thread(target=lambda n=n: results.__setitem__(n, group.submit(n))) for n in range(1, 10)]
    for thread in followers:
        thread.start()
    while sum(1 for thread in followers if thread.is_alive()) < 9 or len(group._queue) < 9:  # all nine queued behind the flush
        threading.Event().wait(0.001)
    assert results == {}  # nobody is told before its write
    release.set()
    for thread in [leader, *followers]:
        thread.join(10)
    assert flushed[0] == [0] and sorted(flushed[1]) == list(range(1, 10)) and len(flushed) == 2  # one write for the nine
    assert results == {n: n * 10 for n in range(10)}


def test_a_failed_flush_fails_every_unit_of_its_batch_and_only_that_batch() -> None:
    calls = 0

    def flush(items: Sequence[int]) -> list[int | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("no space left on device")
        return [ValueError("refused") if item == 2 else item for item in items]

    group: GroupCommit[int, int] = GroupCommit(flush)
    with pytest.raises(OSError, match="no space"):
        group.submit(1)
    with pytest.raises(ValueError, match="refused"):
        group.submit(2)
    assert group.submit(3) == 3


def test_a_unit_of_work_on_local_files_makes_one_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The journal line carries the state change, the entry and the event: one durable write, not three."""
    records = local_records(tmp_path)
    with holding(records) as lease:
        records.record(lease, [Change(update_fields(1, version=1), resource=make_resource(1), event_for=lambda entry: {"event_id": entry["audit_id"]})])  # files exist now
        synced: list[int] = []
        real = os.fsync
        monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
        records.record(lease, [Change(update_fields(2, version=1), resource=make_resource(2), event_for=lambda entry: {"event_id": entry["audit_id"]})])
        assert len(synced) == 1
        monkeypatch.undo()
        records.commit(lease)
    assert records.audit.verify().ok and len(records.outbox.pending()) == 2

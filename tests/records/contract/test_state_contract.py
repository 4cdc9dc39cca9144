"""StateStore: lineage, serial, durable records, the fold, and refusing another lineage — on every backend."""

from __future__ import annotations

import threading

import pytest

from planner.adapters.records.interfaces import Records
from planner.model.errors import StateError
from tests.records.contract.contract_backends import Backend, make_resource


def test_a_new_environment_has_no_state_and_its_first_commit_creates_a_lineage(records: Records) -> None:
    assert records.state.read() is None
    committed = records.state.commit()
    assert committed.serial == 0 and committed.resources == {}
    assert len(committed.lineage) == 36
    assert records.state.read() == committed


def test_a_recorded_change_is_seen_at_once_with_the_serial_it_will_commit_with(backend: Backend, records: Records) -> None:
    records.state.record(make_resource(1))
    seen = records.state.read()
    assert seen is not None and list(seen.resources) == ["model-0001"] and seen.serial == 1
    committed = records.state.commit()
    assert committed == seen
    assert backend.open().state.read() == committed


def test_the_serial_moves_only_when_the_content_changes(records: Records) -> None:
    records.state.record(make_resource(1))
    first = records.state.commit()
    records.state.record(make_resource(1))  # the same content again
    assert records.state.commit().serial == first.serial
    records.state.record(make_resource(1, version=2))
    second = records.state.commit()
    assert second.serial == first.serial + 1 and second.lineage == first.lineage
    records.state.forget("model-0001")
    third = records.state.commit()
    assert third.serial == second.serial + 1 and third.resources == {}
    records.state.forget("model-0001")  # forgetting what is not there changes nothing
    assert records.state.commit().serial == third.serial


def test_records_are_durable_before_any_commit(backend: Backend) -> None:
    """A process that records and dies before committing loses nothing: another handle sees and commits it."""
    crashed = backend.open()
    crashed.state.record(make_resource(1))
    crashed.state.record(make_resource(2))
    crashed.state.forget("model-0001")
    survivor = backend.open()
    seen = survivor.state.read()
    assert seen is not None and list(seen.resources) == ["model-0002"]
    assert survivor.state.commit() == seen
    assert backend.open().state.read() == seen


def test_records_from_many_threads_all_land(records: Records) -> None:
    def record(start: int) -> None:
        for index in range(start, start + 25):
            records.state.record(make_resource(index))

    threads = [threading.Thread(target=record, args=(start,)) for start in range(0, 200, 25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    committed = records.state.commit()
    assert len(committed.resources) == 200 and committed.serial == 1


def test_a_resource_that_breaks_the_state_schema_is_refused_before_it_is_written(records: Records) -> None:
    bad = make_resource(1, max_tokens=-5)
    object.__setattr__(bad, "payload_hash", "not a hash")
    with pytest.raises(StateError, match="payload_hash"):
        records.state.record(bad)
    assert records.state.read() is None


def test_a_state_replaced_by_another_lineage_is_refused_and_not_overwritten(backend: Backend, records: Records) -> None:
    records.state.record(make_resource(1))
    mine = records.state.commit()
    other = backend.replace_lineage()
    with pytest.raises(StateError, match=f"lineage {other}"):
        records.state.read()
    with pytest.raises(StateError):
        records.state.commit()
    fresh = backend.open().state.read()
    assert fresh is not None and fresh.lineage == other != mine.lineage

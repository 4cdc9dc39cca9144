"""State: lineage, serial, durable records, the fold, refusing another lineage, and whose state it is — on every backend."""

from __future__ import annotations

import threading

import pytest

from planner.adapters.records.interfaces import Change, Lease, Records
from planner.app.session import refuse_or_warn
from planner.model.errors import StateError
from tests.records.contract.contract_backends import Backend, make_resource, update_fields
from tests.records.records_helpers import holding


def test_a_new_environment_has_no_state_and_its_first_commit_creates_a_lineage(records: Records, lease: Lease) -> None:
    assert records.state.read().state is None and records.is_empty()
    committed = records.commit(lease)
    assert committed.serial == 0 and committed.resources == {} and committed.environment == "dev"
    assert len(committed.lineage) == 36
    assert records.state.read().state == committed


def test_a_recorded_change_is_seen_at_once_with_the_serial_it_will_commit_with(backend: Backend, records: Records, lease: Lease) -> None:
    records.record(lease, [Change(resource=make_resource(1))])
    seen = records.state.read().state
    assert seen is not None and list(seen.resources) == ["model-0001"] and seen.serial == 1
    committed = records.commit(lease)
    assert committed.resources == seen.resources and committed.serial == seen.serial and committed.lineage == seen.lineage
    assert backend.open().state.read().state == committed


def test_the_serial_moves_only_when_the_content_changes(records: Records, lease: Lease) -> None:
    records.record(lease, [Change(resource=make_resource(1))])
    first = records.commit(lease)
    records.record(lease, [Change(resource=make_resource(1))])  # the same content again
    assert records.commit(lease).serial == first.serial
    records.record(lease, [Change(resource=make_resource(1, version=2))])
    second = records.commit(lease)
    assert second.serial == first.serial + 1 and second.lineage == first.lineage
    records.record(lease, [Change(forget="model-0001")])
    third = records.commit(lease)
    assert third.serial == second.serial + 1 and third.resources == {}
    records.record(lease, [Change(forget="model-0001")])  # forgetting what is not there changes nothing
    assert records.commit(lease).serial == third.serial


def test_records_are_durable_before_any_commit(backend: Backend) -> None:
    """A process that records and dies before committing loses nothing: another handle sees and commits it."""
    crashed = backend.open()
    lease = crashed.locker.lock("apply")
    crashed.record(lease, [Change(resource=make_resource(1)), Change(resource=make_resource(2)), Change(forget="model-0001")])
    crashed.locker.unlock(lease)  # (a dead process's lock goes with it; see the lock contract)
    survivor = backend.open()
    seen = survivor.state.read().state
    assert seen is not None and list(seen.resources) == ["model-0002"]
    with holding(survivor) as next_lease:
        assert survivor.commit(next_lease).resources == seen.resources
    assert backend.open().state.read().state.resources == seen.resources  # type: ignore[union-attr]


def test_records_from_many_threads_all_land(records: Records, lease: Lease) -> None:
    def record(start: int) -> None:
        for index in range(start, start + 25):
            records.record(lease, [Change(resource=make_resource(index))])

    threads = [threading.Thread(target=record, args=(start,)) for start in range(0, 200, 25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    committed = records.commit(lease)
    assert len(committed.resources) == 200 and committed.serial == 1


def test_a_resource_that_breaks_the_state_schema_is_refused_before_it_is_written(records: Records, lease: Lease) -> None:
    bad = make_resource(1, max_tokens=-5)
    object.__setattr__(bad, "payload_hash", "not a hash")
    with pytest.raises(StateError, match="payload_hash"):
        records.record(lease, [Change(resource=bad)])
    assert records.state.read().state is None


def test_a_state_replaced_by_another_lineage_is_refused_and_not_overwritten(backend: Backend, records: Records, lease: Lease) -> None:
    records.record(lease, [Change(resource=make_resource(1))])
    mine = records.commit(lease)
    other = backend.replace_lineage()
    with pytest.raises(StateError, match=f"lineage {other}"):
        records.state.read()
    with pytest.raises(StateError):
        records.commit(lease)
    fresh = backend.open().state.read().state
    assert fresh is not None and fresh.lineage == other != mine.lineage


def test_another_environment_s_records_are_refused_naming_whose_they_are(backend: Backend) -> None:
    alpha = backend.open("alpha")
    with holding(alpha) as lease:
        alpha.record(lease, [Change(audit_fields=update_fields(1, environment="alpha", action="state_refresh", version=1), resource=make_resource(1))])
        alpha.commit(lease)
    backend.copy_records("alpha", "beta")  # copied by hand (or moved, or linked)
    beta = backend.open("beta")
    with pytest.raises(StateError, match="belongs to environment alpha, not beta"):
        refuse_or_warn(beta, "refuse")  # what plan, apply and import check first
    report = beta.audit.verify()
    assert not report.ok and "belongs to environment alpha, not beta" in (report.problem or "")

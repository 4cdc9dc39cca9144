"""The outbox, the unit of work, group commit and the records session (lock → repair → read → settle →
record → finish) — on every backend."""

from __future__ import annotations

import threading
from typing import Any, Callable, Mapping

import pytest

from planner.adapters.records.interfaces import Change, Lease, Records
from planner.app.session import RecordsSession
from planner.app.settling import settle
from planner.core.diff import to_payload
from planner.model.configuration import canonical_json, payload_hash
from planner.model.errors import AuditError, LockHeld, StateError
from tests.records.contract.contract_backends import OPEN_IN_CHILD, Backend, make_resource, until_freed, update_fields
from tests.records.records_helpers import append, holding


def real_hash(configuration: Mapping[str, Any]) -> str:
    return payload_hash(to_payload(configuration))


def event_for(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {"event_id": entry["audit_id"], "event_type": "llm_config_change", "audit_log": dict(entry)}


def test_the_outbox_keeps_each_event_until_delivered_and_compacted(backend: Backend, records: Records, lease: Lease) -> None:
    records.record(lease, [Change(event={"event_id": f"event-{number}", "n": number}) for number in range(3)])
    records.record(lease, [Change(event={"event_id": "event-1", "n": 1})])  # queued twice (a retry): pending once
    records.commit(lease)
    other = backend.open()
    assert [event["event_id"] for event in other.outbox.pending()] == ["event-0", "event-1", "event-2"]
    other.outbox.mark_delivered("event-1")
    assert [event["event_id"] for event in records.outbox.pending()] == ["event-0", "event-2"]
    assert records.outbox.queued_ids() == {"event-0", "event-1", "event-2"}  # delivered but not compacted: still known
    records.outbox.compact()
    assert records.outbox.queued_ids() == {"event-0", "event-2"}
    assert [event["n"] for event in backend.open().outbox.pending()] == [0, 2]


def test_one_unit_of_work_records_state_audit_entry_and_event_together(backend: Backend, records: Records, lease: Lease) -> None:
    (recorded,) = records.record(lease, [Change(update_fields(1, version=1), resource=make_resource(1), event_for=event_for)])
    assert recorded.entry is not None and recorded.event is not None and recorded.event["event_id"] == recorded.entry["audit_id"]
    other = backend.open()  # durable on return, for anyone
    state = other.state.read().state
    assert state is not None and list(state.resources) == ["model-0001"]
    assert list(other.audit.entries()) == [recorded.entry]
    assert other.outbox.pending() == [recorded.event]
    (gone,) = records.record(lease, [Change(update_fields(1, action="state_forget"), forget="model-0001")])
    assert gone.event is None
    assert records.commit(lease).resources == {}
    (failure,) = records.record(lease, [Change(update_fields(2, status="failure"), event_for=event_for)])  # no state change
    assert failure.event is not None and failure.entry is not None
    assert [e["event_id"] for e in backend.open().outbox.pending()][-1] == failure.entry["audit_id"]


def test_a_unit_of_work_refused_by_the_audit_schema_leaves_nothing_behind(backend: Backend, records: Records, lease: Lease) -> None:
    with pytest.raises(AuditError, match="does not match schemas/audit-entry.schema.json"):
        records.record(lease, [Change({**update_fields(1), "status": "maybe"}, resource=make_resource(1), event_for=event_for)])
    other = backend.open()
    assert list(other.audit.entries()) == [] and other.outbox.pending() == []
    assert other.state.read().state is None  # the state change did not go in without its entry


def test_units_of_work_recorded_together_fail_alone(records: Records, lease: Lease) -> None:
    results: dict[int, Any] = {}

    def record(index: int) -> None:
        fields = {**update_fields(index), "status": "maybe"} if index == 3 else update_fields(index, version=1)
        try:
            results[index] = records.record(lease, [Change(fields, resource=make_resource(index))])
        except AuditError as refused:
            results[index] = refused

    threads = [threading.Thread(target=record, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert isinstance(results[3], AuditError) and all(not isinstance(results[index], Exception) for index in range(8) if index != 3)
    state = records.commit(lease)
    assert sorted(state.resources) == [f"model-{index:04d}" for index in range(8) if index != 3]
    assert records.audit.verify().ok


def test_a_session_holds_the_lock_commits_and_checkpoints_when_it_ends(backend: Backend) -> None:
    records = backend.open()
    with RecordsSession(records, operation="apply") as session:
        with pytest.raises(LockHeld):
            backend.open().locker.lock("refresh")
        session.record([Change(update_fields(1, version=1), resource=make_resource(1))])
    other = backend.open()
    assert other.locker.holder() is None
    committed = other.state.read().state
    assert committed is not None and committed.serial == 1 and session.committed == committed
    assert other.audit.recent().entries == ()  # checkpointed


def test_settling_closes_what_an_interrupted_run_left_open_and_announces_what_it_did_not(backend: Backend) -> None:
    records = backend.open()
    landed = make_resource(1, version=4)
    live = {landed.model_id: {**landed.configuration, "version": 4}, make_resource(2).model_id: {**make_resource(2, max_tokens=1).configuration, "version": 9}}
    # An earlier run: two PUTs announced as pending, one landed (live carries it), one did not; and a success
    # recorded without its event (an llmplan that wrote them apart, killed between the two).
    append(records, update_fields(1, status="pending", operation_id="11111111-1111-4111-8111-111111111111", payload_hash=real_hash(landed.configuration)))
    append(records, update_fields(2, status="pending", operation_id="22222222-2222-4222-8222-222222222222"))
    (orphan,) = append(records, update_fields(3, version=2, payload_hash=real_hash(make_resource(3).configuration)))
    with holding(records) as lease:
        records.record(lease, [Change(resource=make_resource(3))])
    with RecordsSession(backend.open(), operation="apply") as session:
        settled = settle(session, live, event_for=lambda entry, configuration: event_for(entry))
    assert [(entry["address"], entry["status"]) for entry in settled.reconciled] == [("model-0001", "success"), ("model-0002", "failure")]
    assert settled.reconciled[0]["version"] == 4 and settled.reconciled[1]["error_code"] == "interrupted"
    announced = {event["event_id"] for event in backend.open().outbox.pending()}
    assert orphan["audit_id"] in announced and settled.reconciled[0]["audit_id"] in announced
    assert settled.announced == ("model-0003",)  # the landed change's event went with its unit of work
    recorded = backend.open().state.read().state
    assert recorded is not None and recorded.resources["model-0001"].version == 4  # recorded as llmplan's own change
    with RecordsSession(backend.open(), operation="apply") as again:
        repeat = settle(again, live, event_for=lambda entry, configuration: event_for(entry))
    assert repeat.reconciled == () and repeat.announced == ()  # settling twice changes nothing


def test_a_landing_already_recorded_is_not_recorded_again_by_settling(backend: Backend) -> None:
    """A holder that lost its lock left an operation open; the next holder's own PUT of the same change met
    the landing (a 409, read back) and recorded it: settling the open operation must not make it two."""
    records = backend.open()
    landed = make_resource(1, version=5)
    live = {landed.model_id: {**landed.configuration, "version": 5}}
    append(records, update_fields(1, status="pending", operation_id="33333333-3333-4333-8333-333333333333", payload_hash=real_hash(landed.configuration)))
    append(records, update_fields(1, status="success", operation_id="44444444-4444-4444-8444-444444444444", version=5, payload_hash=real_hash(landed.configuration)))
    with RecordsSession(backend.open(), operation="apply") as session:
        settled = settle(session, live, event_for=None)
    assert [entry["status"] for entry in settled.reconciled] == ["failure"]
    successes = [entry for entry in backend.open().audit.entries() if entry.get("status") == "success" and entry.get("action") == "configuration_update"]
    assert len(successes) == 1


def test_a_session_whose_lock_was_taken_over_refuses_to_record_and_commit(backend: Backend) -> None:
    records = backend.open()
    session = RecordsSession(records, operation="apply").__enter__()
    session.record([Change(update_fields(1, status="pending"))])
    backend.break_lock()
    second = backend.open()
    until_freed(second)
    with holding(second, "apply"):
        with pytest.raises(StateError, match="lock"):
            session.record([Change(update_fields(1, version=1), resource=make_resource(1))])
        with pytest.raises(StateError, match="lock"):
            session.__exit__(None, None, None)
    after = backend.open().state.read().state
    assert after is None or "model-0001" not in after.resources  # nothing of the late write


KILLED_MID_APPLY = OPEN_IN_CHILD + """
from tests.records.records_helpers import make_resource, update_fields
from planner.adapters.records.interfaces import Change
from planner.app.session import RecordsSession
session = RecordsSession(records, operation="apply")
session.__enter__()
for index in range(1, 100_000):
    session.record([Change(audit_fields=update_fields(index % 40, status="pending", operation_id=f"00000000-0000-4000-8000-{index:012d}"))])
    session.record([Change(update_fields(index % 40, version=index, operation_id=f"00000000-0000-4000-8000-{index:012d}"), resource=make_resource(index % 40, version=index))])
    print(index, flush=True)
"""


def test_a_run_killed_mid_apply_leaves_records_the_next_session_finishes(backend: Backend, spawn: Callable) -> None:
    child = spawn(KILLED_MID_APPLY, backend.child_spec(), env=backend.child_environ())
    acknowledged = [int(child.line()) for _ in range(25)][-1]
    child.kill()
    records = backend.open()
    until_freed(records)
    with RecordsSession(records, operation="apply") as session:
        state = session.state
        assert state is not None
        assert state.resources[f"model-{acknowledged % 40:04d}"].version >= acknowledged  # nothing acknowledged is lost
    report = backend.open().audit.verify()
    assert report.ok, report.problem
    successes = [e for e in backend.open().audit.entries() if e["status"] == "success" and e["action"] == "configuration_update"]
    assert len({entry["operation_id"] for entry in successes}) == len(successes) >= acknowledged  # nothing recorded twice


def test_the_event_of_a_unit_of_work_is_the_json_it_will_be_sent_as(records: Records, lease: Lease) -> None:
    (recorded,) = records.record(lease, [Change(update_fields(1, version=1), resource=make_resource(1), event_for=event_for)])
    assert records.outbox.pending() == [recorded.event]
    assert canonical_json(records.outbox.pending()[0]) == canonical_json(recorded.event)

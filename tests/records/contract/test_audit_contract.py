"""The audit trail: one linear hash chain, tampering named at the right entry, a checkpoint that keeps
every command's reading independent of the trail's length, and a state checked by reading one entry — on every backend."""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any, Callable

import pytest

from planner.adapters.records.interfaces import Change, Lease, Records
from planner.adapters.records.vouching import state_problems
from planner.model.errors import AuditError
from tests.records.contract.contract_backends import OPEN_IN_CHILD, Backend, make_resource, update_fields
from tests.records.records_helpers import append, checkpoint, holding


def sha256_of_entry(entry: dict[str, Any]) -> str:
    """Written out independently of planner.model.configuration on purpose."""
    body = {key: value for key, value in entry.items() if key != "entry_hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def filled(records: Records, count: int = 6) -> list[dict[str, Any]]:
    return append(records, *(update_fields(index, status="failure" if index == 2 else "success") for index in range(count)))


def test_entries_chain_from_64_zeros_and_read_back_in_order(backend: Backend, records: Records) -> None:
    written = filled(records, 3)
    assert written[0]["prev_hash"] == "0" * 64
    for before, after in zip(written, written[1:], strict=False):
        assert after["prev_hash"] == before["entry_hash"]
    for entry in written:
        assert entry["entry_hash"] == sha256_of_entry(entry)
    other = backend.open()
    assert list(other.audit.entries()) == written
    assert [entry["audit_id"] for entry in other.audit.entries(model_id=update_fields(1)["model_id"].upper())] == [written[1]["audit_id"]]
    report = other.audit.verify()
    assert report.ok and report.entries == 3


def test_an_empty_trail_verifies(records: Records) -> None:
    assert records.audit.verify().ok and records.audit.verify().entries == 0
    assert records.audit.verify_recent().ok
    assert records.audit.recent().entries == ()


def test_an_entry_breaking_the_schema_is_refused_and_nothing_is_written(records: Records, lease: Lease) -> None:
    with pytest.raises(AuditError, match="status"):
        records.record(lease, [Change(audit_fields={**update_fields(1), "status": "maybe"})])
    with pytest.raises(AuditError, match="computed by the audit log"):
        records.record(lease, [Change(audit_fields={**update_fields(1), "entry_hash": "0" * 64})])
    assert list(records.audit.entries()) == []


def test_an_entry_is_read_again_at_the_position_it_was_written_at(records: Records, lease: Lease) -> None:
    written = records.record(lease, [Change(audit_fields=update_fields(index)) for index in range(4)])
    for recorded in written:
        assert recorded.position is not None and records.audit.entry_at(recorded.position) == recorded.entry
    third = written[2]
    assert third.position is not None and [entry["audit_id"] for entry in records.audit.entries(position=third.position)] == [written[2].entry["audit_id"], written[3].entry["audit_id"]]  # type: ignore[index]


def edit(texts: list[str], number: int, *, rehash: bool) -> list[str]:
    entry = json.loads(texts[number - 1])
    entry["latency_ms"] = 1.0
    if rehash:
        entry["entry_hash"] = sha256_of_entry(entry)
    texts[number - 1] = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
    return texts


TAMPERING: list[tuple[str, Callable[[list[str]], list[str]], int, str]] = [
    ("a field edited", lambda texts: edit(texts, 3, rehash=False), 3, "entry_hash does not match its content (edited?)"),
    ("a field edited and its hash recomputed", lambda texts: edit(texts, 3, rehash=True), 4, "prev_hash does not match line 3"),
    ("a middle entry deleted", lambda texts: texts[:2] + texts[3:], 3, "prev_hash does not match line 2 (a line was removed, inserted or reordered)"),
    ("the first entry deleted", lambda texts: texts[1:], 1, "prev_hash is not the start of a chain"),
    ("two entries swapped", lambda texts: [texts[0], texts[2], texts[1], *texts[3:]], 2, "prev_hash does not match line 1"),
    ("a copy of entry 2 inserted after entry 4", lambda texts: [*texts[:4], texts[1], *texts[4:]], 5, "prev_hash does not match line 4"),
]


@pytest.mark.parametrize(("what", "tamper", "line", "words"), TAMPERING, ids=[row[0] for row in TAMPERING])
def test_tampering_is_named_at_the_right_entry(backend: Backend, records: Records, what: str, tamper: Callable[[list[str]], list[str]], line: int, words: str) -> None:
    filled(records)
    backend.rewrite_audit(tamper(backend.audit_texts()))
    report = backend.open().audit.verify()
    assert not report.ok and report.first_bad_line == line
    assert report.problem is not None and report.problem.startswith(f"line {line}: ") and words in report.problem


TAMPERING_THE_END: list[tuple[str, Callable[[list[str]], list[str]], int, str]] = [
    # after 6 entries and the commit's own (the 7th, which vouches for the state)
    ("the last entry deleted", lambda texts: texts[:-1], 7, "records 7 entries but the log has 6"),
    ("the last two entries deleted", lambda texts: texts[:-2], 6, "(lines were removed from the end)"),
    ("the last entry edited and rehashed", lambda texts: edit(texts, 7, rehash=True), 7, "does not match the hash recorded in"),
    ("every entry deleted", lambda texts: [], 1, "the log has 0"),
]


@pytest.mark.parametrize(("what", "tamper", "line", "words"), TAMPERING_THE_END, ids=[row[0] for row in TAMPERING_THE_END])
def test_tampering_with_the_end_is_named_after_a_checkpoint(backend: Backend, records: Records, what: str, tamper: Callable[[list[str]], list[str]], line: int, words: str) -> None:
    filled(records)
    checkpoint(records)
    backend.rewrite_audit(tamper(backend.audit_texts()))
    other = backend.open()
    report = other.audit.verify()
    assert not report.ok and report.first_bad_line == line, report
    assert report.problem is not None and words in report.problem
    assert not other.audit.verify_recent().ok  # every command notices, not only audit verify


def test_commands_read_only_from_the_checkpoint_yet_see_an_unsettled_operation_before_it(records: Records) -> None:
    (pending,) = append(records, update_fields(1, status="pending", operation_id="5b1f0c56-0d7e-4c3e-9a51-2f8f3c1f7a10"))
    append(records, *(update_fields(index) for index in range(2, 40)))
    checkpoint(records)
    recent = records.audit.recent()
    assert recent.entries[0] == pending  # the checkpoint remembers the oldest operation still open
    assert len(recent.entries) == 40 and recent.since_checkpoint == ()  # (and the commit's own entry, which vouches for the state)
    append(records, update_fields(1, status="success", operation_id=pending["operation_id"]))
    (later,) = append(records, update_fields(2))
    checkpoint(records)
    recent = records.audit.recent()
    assert recent.entries == ()  # settled: nothing before the new checkpoint is read again
    (closing,) = append(records, update_fields(3))
    recent = records.audit.recent()
    assert recent.entries == (closing,) and recent.since_checkpoint == (closing,)
    assert records.audit.verify_recent().ok and records.audit.verify().ok and records.audit.verify().entries == 43


def test_an_edit_deep_in_history_is_for_verify_while_the_checkpointed_end_is_checked_by_everyone(backend: Backend, records: Records) -> None:
    filled(records)
    checkpoint(records)
    texts = backend.audit_texts()
    texts[1] = texts[1].replace('"latency_ms":12.5', '"latency_ms":99.5')  # same length: the checkpoint's end stays where it was
    backend.rewrite_audit(texts)
    other = backend.open()
    assert other.audit.verify_recent().ok  # costs what happened since the checkpoint, not the history
    assert other.audit.verify().first_bad_line == 2


def test_appends_from_many_threads_keep_one_chain(records: Records, lease: Lease) -> None:
    def write(start: int) -> None:
        for index in range(start, start + 10):
            records.record(lease, [Change(audit_fields=update_fields(index))])

    threads = [threading.Thread(target=write, args=(start,)) for start in range(0, 80, 10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = records.audit.verify()
    assert report.ok and report.entries == 80


APPEND_IN_CHILD = OPEN_IN_CHILD + """
from planner.adapters.records.interfaces import Change
from tests.records.records_helpers import update_fields
print("ready", flush=True)
sys.stdin.readline()
for index in range(40):
    lease = records.locker.lock("apply", timeout=60)
    records.record(lease, [Change(audit_fields=update_fields(index, address=sys.argv[2]))])
    records.locker.unlock(lease)
print("done", flush=True)
"""


def test_processes_taking_turns_keep_one_chain(backend: Backend, records: Records, spawn: Callable) -> None:
    append(records, update_fields(0))
    children = [spawn(APPEND_IN_CHILD, backend.child_spec(), f"runner-{number}", env=backend.child_environ()) for number in range(3)]
    for child in children:
        assert child.line() == "ready"
    for child in children:
        child.send("go")
    for child in children:
        assert child.line() == "done"
    report = records.audit.verify()
    assert report.ok and report.entries == 121
    assert {entry["address"] for entry in records.audit.entries()} == {"model-0000", "runner-0", "runner-1", "runner-2"}


class Counting:
    """An audit reader that counts the entries it hands out: how much of the trail a check reads."""

    def __init__(self, audit: Any) -> None:
        self.audit, self.read = audit, 0

    def entries(self, **kwargs: Any) -> Any:
        for entry in self.audit.entries(**kwargs):
            self.read += 1
            yield entry

    def entry_at(self, position: int) -> Any:
        self.read += 1
        return self.audit.entry_at(position)

    def checkpointed(self) -> Any:
        self.read += 1
        return self.audit.checkpointed()

    def recent(self) -> Any:
        recent = self.audit.recent()
        self.read += len(recent.entries)
        return recent


@pytest.mark.parametrize("history", [10, 1200])
def test_checking_the_state_after_a_failed_apply_reads_the_same_few_entries_at_any_history_length(records: Records, history: int) -> None:
    with holding(records) as lease:
        records.record(lease, [Change(audit_fields=update_fields(1, version=1), resource=make_resource(1))])
        records.record(lease, [Change(audit_fields=update_fields(index % 40)) for index in range(history)])
        records.commit(lease)
    with holding(records) as lease:  # an apply whose only PUT failed: entries appended, the state unchanged
        records.record(lease, [Change(audit_fields=update_fields(2, status="pending")), Change(audit_fields=update_fields(2, status="failure"))])
        records.commit(lease)
    counting = Counting(records.audit)
    assert state_problems(records.state.read(), counting, environment="dev", where=records.name) == []  # type: ignore[arg-type]
    assert counting.read <= 3, counting.read  # its vouching entry, read where the state says it is

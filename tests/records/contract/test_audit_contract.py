"""AuditStore: one linear hash chain, tampering named at the right entry, and a checkpoint
that keeps every command's reading independent of the trail's length — on every backend."""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any, Callable

import pytest

from planner.adapters.records.interfaces import Records
from planner.model.errors import AuditError
from tests.records.contract.contract_backends import OPEN_IN_CHILD, Backend, update_fields


def sha256_of_entry(entry: dict[str, Any]) -> str:
    """Written out independently of planner.model.configuration on purpose."""
    body = {key: value for key, value in entry.items() if key != "entry_hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def filled(records: Records, count: int = 6) -> list[dict[str, Any]]:
    return [records.audit.append(update_fields(index, status="failure" if index == 2 else "success")) for index in range(count)]


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


def test_an_entry_breaking_the_schema_is_refused_and_nothing_is_written(records: Records) -> None:
    with pytest.raises(AuditError, match="status"):
        records.audit.append({**update_fields(1), "status": "maybe"})
    with pytest.raises(AuditError, match="computed by the audit log"):
        records.audit.append({**update_fields(1), "entry_hash": "0" * 64})
    assert list(records.audit.entries()) == []


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
    ("the last entry deleted", lambda texts: texts[:-1], 6, "records 6 entries but the log has 5"),
    ("the last two entries deleted", lambda texts: texts[:-2], 5, "(lines were removed from the end)"),
    ("the last entry edited and rehashed", lambda texts: edit(texts, 6, rehash=True), 6, "does not match the hash recorded in"),
    ("every entry deleted", lambda texts: [], 1, "the log has 0"),
]


@pytest.mark.parametrize(("what", "tamper", "line", "words"), TAMPERING_THE_END, ids=[row[0] for row in TAMPERING_THE_END])
def test_tampering_with_the_end_is_named_after_a_checkpoint(backend: Backend, records: Records, what: str, tamper: Callable[[list[str]], list[str]], line: int, words: str) -> None:
    filled(records)
    records.audit.checkpoint()
    backend.rewrite_audit(tamper(backend.audit_texts()))
    other = backend.open()
    report = other.audit.verify()
    assert not report.ok and report.first_bad_line == line, report
    assert report.problem is not None and words in report.problem
    assert not other.audit.verify_recent().ok  # every command notices, not only audit verify


def test_commands_read_only_from_the_checkpoint_yet_see_an_unsettled_operation_before_it(records: Records) -> None:
    pending = records.audit.append(update_fields(1, status="pending", operation_id="5b1f0c56-0d7e-4c3e-9a51-2f8f3c1f7a10"))
    for index in range(2, 40):
        records.audit.append(update_fields(index))
    records.audit.checkpoint()
    recent = records.audit.recent()
    assert recent.entries[0] == pending  # the checkpoint remembers the oldest operation still open
    assert len(recent.entries) == 39 and recent.since_checkpoint == ()
    records.audit.append(update_fields(1, status="success", operation_id=pending["operation_id"]))
    later = records.audit.append(update_fields(2))
    records.audit.checkpoint()
    recent = records.audit.recent()
    assert recent.entries == ()  # settled: nothing before the new checkpoint is read again
    closing = records.audit.append(update_fields(3))
    recent = records.audit.recent()
    assert recent.entries == (closing,) and recent.since_checkpoint == (closing,)
    assert later["entry_hash"] == closing["prev_hash"]
    assert records.audit.verify_recent().ok and records.audit.verify().ok and records.audit.verify().entries == 42


def test_an_edit_deep_in_history_is_for_verify_while_the_checkpointed_end_is_checked_by_everyone(backend: Backend, records: Records) -> None:
    filled(records)
    records.audit.checkpoint()
    texts = backend.audit_texts()
    texts[1] = texts[1].replace('"latency_ms":12.5', '"latency_ms":99.5')  # same length: the checkpoint's end stays where it was
    backend.rewrite_audit(texts)
    other = backend.open()
    assert other.audit.verify_recent().ok  # costs what happened since the checkpoint, not the history
    assert other.audit.verify().first_bad_line == 2


def test_appends_from_many_threads_keep_one_chain(records: Records) -> None:
    def append(start: int) -> None:
        for index in range(start, start + 10):
            records.audit.append(update_fields(index))

    threads = [threading.Thread(target=append, args=(start,)) for start in range(0, 80, 10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = records.audit.verify()
    assert report.ok and report.entries == 80


APPEND_IN_CHILD = OPEN_IN_CHILD + """
from tests.records.records_helpers import update_fields
print("ready", flush=True)
sys.stdin.readline()
for index in range(40):
    records.audit.append(update_fields(index, environment=sys.argv[2]))
print("done", flush=True)
"""


def test_processes_appending_at_once_keep_one_chain(backend: Backend, records: Records, spawn: Callable) -> None:
    records.audit.append(update_fields(0))
    children = [spawn(APPEND_IN_CHILD, backend.child_spec(), f"runner-{number}", env=backend.child_environ()) for number in range(3)]
    for child in children:
        assert child.line() == "ready"
    for child in children:
        child.send("go")
    for child in children:
        assert child.line() == "done"
    report = records.audit.verify()
    assert report.ok and report.entries == 121
    assert {entry["environment"] for entry in records.audit.entries()} == {"dev", "runner-0", "runner-1", "runner-2"}

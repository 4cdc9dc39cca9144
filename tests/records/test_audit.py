"""The audit trail: a chain that verifies, tampering found at the right line, torn tails repaired visibly."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

from planner.records.local_audit import LocalAuditStore
from planner.errors import AuditError

Fields = Callable[..., dict[str, Any]]


def sha256_of_entry(entry: dict[str, Any]) -> str:
    """Written out independently of planner.configuration on purpose."""
    body = {key: value for key, value in entry.items() if key != "entry_hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def filled(tmp_path: Path, fields: Fields, count: int = 6) -> LocalAuditStore:
    audit = LocalAuditStore(tmp_path / "audit.jsonl")
    for index in range(count):
        audit.append(fields(index, status="failure" if index == 2 else "success"))
    return audit


def test_entries_are_chained_from_64_zeros(tmp_path: Path, fields: Fields) -> None:
    stamps = iter(["2026-11-25T10:00:00.000Z", "2026-11-25T10:00:01.500Z", "2026-11-25T10:00:02.250Z"])
    audit = LocalAuditStore(tmp_path / "audit.jsonl", clock=lambda: next(stamps))
    returned = [audit.append(fields(index)) for index in range(3)]

    written = [json.loads(line) for line in lines_of(tmp_path / "audit.jsonl")]
    assert written == returned
    assert written[0]["prev_hash"] == "0" * 64
    for before, after in zip(written, written[1:]):
        assert after["prev_hash"] == before["entry_hash"]
    for entry in written:
        assert entry["entry_hash"] == sha256_of_entry(entry)
        assert uuid.UUID(entry["audit_id"]).version == 4
    assert [entry["timestamp"] for entry in written] == ["2026-11-25T10:00:00.000Z", "2026-11-25T10:00:01.500Z", "2026-11-25T10:00:02.250Z"]
    assert written[1]["model_id"] == "a1b2c3d4-e5f6-7890-abcd-000000000002" and written[1]["action"] == "configuration_update"

    report = audit.verify()
    assert report.ok and report.entries == 3 and report.first_bad_line is None and not report.torn_tail


def test_an_absent_log_verifies_empty(tmp_path: Path) -> None:
    report = LocalAuditStore(tmp_path / "audit.jsonl").verify()
    assert report.ok and report.entries == 0


def edit_field(lines: list[str], number: int, *, rehash: bool) -> list[str]:
    entry = json.loads(lines[number - 1])
    entry["latency_ms"] = 1.0
    if rehash:
        entry["entry_hash"] = sha256_of_entry(entry)
    lines[number - 1] = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
    return lines


TAMPERING = [
    # (what was done, how, line reported, words of the problem)
    ("a field edited", lambda lines: edit_field(lines, 3, rehash=False), 3, "entry_hash does not match its content (edited?)"),
    ("a field edited and its hash recomputed", lambda lines: edit_field(lines, 3, rehash=True), 4, "prev_hash does not match line 3"),
    ("a middle line deleted", lambda lines: lines[:2] + lines[3:], 3, "prev_hash does not match line 2 (a line was removed, inserted or reordered)"),
    ("the first line deleted", lambda lines: lines[1:], 1, "prev_hash is not the start of a chain"),
    ("two lines swapped", lambda lines: [lines[0], lines[2], lines[1], *lines[3:]], 2, "prev_hash does not match line 1"),
    ("a copy of line 2 inserted after line 4", lambda lines: [*lines[:4], lines[1], *lines[4:]], 5, "prev_hash does not match line 4"),
    ("a line replaced with garbage", lambda lines: [*lines[:3], "not json\n", *lines[4:]], 4, "not valid JSON"),
    ("an empty line inserted", lambda lines: [*lines[:1], "\n", *lines[1:]], 2, "empty line"),
]


@pytest.mark.parametrize(("what", "tamper", "line", "words"), TAMPERING, ids=[row[0] for row in TAMPERING])
def test_tampering_is_detected_at_the_right_line(tmp_path: Path, fields: Fields, what: str, tamper: Callable, line: int, words: str) -> None:
    audit = filled(tmp_path, fields)
    path = tmp_path / "audit.jsonl"
    path.write_text("".join(tamper(lines_of(path))))
    report = audit.verify()
    assert not report.ok
    assert report.first_bad_line == line
    assert report.problem is not None and report.problem.startswith(f"line {line}: ") and words in report.problem
    assert not report.torn_tail


TAMPERING_THE_END = [
    ("the last line deleted", lambda lines: lines[:-1], 6, "missing: audit.jsonl.head records 6 entries but the log has 5"),
    ("the last two lines deleted", lambda lines: lines[:-2], 5, "lines were removed from the end"),
    ("the last line edited and rehashed", lambda lines: edit_field(lines, 6, rehash=True), 6, "does not match the hash recorded in audit.jsonl.head"),
    ("the whole log deleted", lambda lines: [], 1, "the log has 0"),
]


@pytest.mark.parametrize(("what", "tamper", "line", "words"), TAMPERING_THE_END, ids=[row[0] for row in TAMPERING_THE_END])
def test_tampering_with_the_end_is_detected_after_a_checkpoint(tmp_path: Path, fields: Fields, what: str, tamper: Callable, line: int, words: str) -> None:
    audit = filled(tmp_path, fields)
    audit.checkpoint()
    path = tmp_path / "audit.jsonl"
    path.write_text("".join(tamper(lines_of(path))))
    report = audit.verify()
    assert not report.ok and report.first_bad_line == line
    assert report.problem is not None and words in report.problem


def test_entries_after_the_checkpoint_still_verify(tmp_path: Path, fields: Fields) -> None:
    audit = filled(tmp_path, fields, count=3)
    audit.checkpoint()
    audit.append(fields(7))
    assert audit.verify().ok and audit.verify().entries == 4


def test_a_torn_tail_is_reported_refused_repaired_and_appends_continue(tmp_path: Path, fields: Fields) -> None:
    audit = filled(tmp_path, fields, count=4)
    path = tmp_path / "audit.jsonl"
    fragment = b'{"action":"configuration_update","addr'
    with open(path, "ab") as handle:
        handle.write(fragment)  # the crash cut this append short

    report = audit.verify()
    assert not report.ok and report.torn_tail and report.entries == 4
    assert report.first_bad_line == 5
    assert report.problem == "line 5: torn last line (incomplete write, probably a crash)"

    with pytest.raises(AuditError, match="torn line") as refused:
        audit.append(fields(9))
    assert refused.value.hint is not None and "--repair" in refused.value.hint
    assert path.read_bytes().endswith(fragment)  # nothing chained onto garbage

    result = audit.repair()
    assert result.repaired and result.fragment_bytes == len(fragment)
    assert result.fragment_sha256 == hashlib.sha256(fragment).hexdigest()
    assert (tmp_path / "audit.jsonl.torn").read_bytes() == fragment + b"\n"  # preserved, not dropped
    last = json.loads(lines_of(path)[-1])
    assert last["action"] == "audit_repair" and last["status"] == "success"
    assert last["torn_fragment_sha256"] == hashlib.sha256(fragment).hexdigest() and last["torn_fragment_bytes"] == len(fragment)
    assert audit.verify().ok

    audit.append(fields(9))
    report = audit.verify()
    assert report.ok and report.entries == 6
    assert audit.repair().repaired is False  # nothing left to do


def test_an_unparsable_last_line_with_newline_is_a_torn_tail(tmp_path: Path, fields: Fields) -> None:
    audit = filled(tmp_path, fields, count=2)
    with open(tmp_path / "audit.jsonl", "ab") as handle:
        handle.write(b"\x00\x00\x00\n")  # what a power cut can leave
    assert audit.verify().torn_tail
    audit.repair()
    assert audit.verify().ok
    assert (tmp_path / "audit.jsonl.torn").read_bytes() == b"\x00\x00\x00\n"


def test_other_damage_is_not_repairable(tmp_path: Path, fields: Fields) -> None:
    audit = filled(tmp_path, fields)
    path = tmp_path / "audit.jsonl"
    path.write_text("".join(edit_field(lines_of(path), 2, rehash=False)) + '{"torn')
    before = path.read_bytes()
    with pytest.raises(AuditError, match=r"cannot be repaired: line 2: entry_hash does not match"):
        audit.repair()
    assert path.read_bytes() == before
    assert not (tmp_path / "audit.jsonl.torn").exists()


def test_an_entry_breaking_the_schema_is_refused_and_nothing_is_written(tmp_path: Path, fields: Fields) -> None:
    audit = filled(tmp_path, fields, count=1)
    before = (tmp_path / "audit.jsonl").read_bytes()
    failure_without_error = fields(1, status="failure")
    del failure_without_error["error_code"]
    with pytest.raises(AuditError, match="'error_code' is a required property"):
        audit.append(failure_without_error)
    with pytest.raises(AuditError, match="not plain JSON"):
        audit.append(fields(1, latency_ms=float("nan")))
    with pytest.raises(AuditError, match="computed by the audit log"):
        audit.append(fields(1, entry_hash="0" * 64))
    assert (tmp_path / "audit.jsonl").read_bytes() == before


def test_the_fields_apply_writes_are_accepted(tmp_path: Path, fields: Fields) -> None:
    """pending intent, then the outcome; a forget; an interrupted operation closed later."""
    audit = LocalAuditStore(tmp_path / "audit.jsonl")
    operation = str(uuid.uuid4())
    audit.append(fields(1, status="pending", operation_id=operation, latency_ms=0))
    audit.append(fields(1, status="success", operation_id=operation, version=5, plan_checksum="ab" * 32))
    audit.append(fields(2, action="state_forget", compliance_mode=None, latency_ms=0))
    audit.append(fields(3, status="failure", error_code="interrupted", error_message="the apply was interrupted"))
    assert audit.verify().ok


def test_entries_filter_by_model_and_skip_a_torn_tail(tmp_path: Path, fields: Fields) -> None:
    audit = filled(tmp_path, fields, count=4)
    audit.append(fields(1, status="failure"))
    with open(tmp_path / "audit.jsonl", "ab") as handle:
        handle.write(b'{"mod')
    assert len(list(audit.entries())) == 5
    of_model = audit.entries(model_id="A1B2C3D4-E5F6-7890-ABCD-000000000002")
    assert [entry["status"] for entry in of_model] == ["success", "failure"]


def test_appends_from_many_threads_keep_one_chain(tmp_path: Path, fields: Fields) -> None:
    audit = LocalAuditStore(tmp_path / "audit.jsonl")
    threads = [threading.Thread(target=lambda: [audit.append(fields(i)) for i in range(25)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = audit.verify()
    assert report.ok and report.entries == 200


APPEND_IN_CHILD = """
import sys
from pathlib import Path
from planner.records.local_audit import LocalAuditStore
audit = LocalAuditStore(Path(sys.argv[1]))
for index in range(int(sys.argv[2])):
    audit.append({"model_id": "a1b2c3d4-e5f6-7890-abcd-000000000001", "address": "m", "environment": "dev",
                  "action": "configuration_update", "status": "success", "latency_ms": 1, "payload_hash": "ab" * 32,
                  "compliance_mode": "strict"})
print("done", flush=True)
"""


def test_processes_appending_one_after_another_and_at_once_keep_one_chain(tmp_path: Path, fields: Fields, spawn: Callable) -> None:
    path = tmp_path / "audit.jsonl"
    ours = LocalAuditStore(path)  # opened before the others wrote: must not chain onto a stale head
    ours.append(fields(0))
    assert spawn(APPEND_IN_CHILD, str(path), "3").line() == "done"
    ours.append(fields(1))
    assert ours.verify().ok and ours.verify().entries == 5

    racers = [spawn(APPEND_IN_CHILD, str(path), "40") for _ in range(3)]
    for racer in racers:
        assert racer.line() == "done"
    report = ours.verify()
    assert report.ok and report.entries == 125

"""The audit trail: a chain that verifies, tampering found at the right line, torn tails repaired visibly."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

from planner.adapters.records.local import LocalRecords
from planner.model.errors import AuditError
from tests.records.records_helpers import append, holding, local_records

Fields = Callable[..., dict[str, Any]]


def sha256_of_entry(entry: dict[str, Any]) -> str:
    """Written out independently of planner.model.configuration on purpose."""
    body = {key: value for key, value in entry.items() if key != "entry_hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def filled(tmp_path: Path, fields: Fields, count: int = 6) -> LocalRecords:
    records = local_records(tmp_path)
    append(records, *(fields(index, status="failure" if index == 2 else "success") for index in range(count)))
    return records


def edit_field(lines: list[str], number: int, *, rehash: bool) -> list[str]:
    entry = json.loads(lines[number - 1])
    entry["latency_ms"] = 1.0
    if rehash:
        entry["entry_hash"] = sha256_of_entry(entry)
    lines[number - 1] = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
    return lines


# What only a file of lines can suffer; the tampering every backend must name is in contract/test_audit_contract.py.
TAMPERING = [
    # (what was done, how, line reported, words of the problem)
    ("a line replaced with garbage", lambda lines: [*lines[:3], "not json\n", *lines[4:]], 4, "not valid JSON"),
    ("an empty line inserted", lambda lines: [*lines[:1], "\n", *lines[1:]], 2, "empty line"),
]


@pytest.mark.parametrize(("what", "tamper", "line", "words"), TAMPERING, ids=[row[0] for row in TAMPERING])
def test_tampering_is_detected_at_the_right_line(tmp_path: Path, fields: Fields, what: str, tamper: Callable, line: int, words: str) -> None:
    records = filled(tmp_path, fields)
    path = tmp_path / "audit.jsonl"
    path.write_text("".join(tamper(lines_of(path))))
    report = records.audit.verify()
    assert not report.ok
    assert report.first_bad_line == line
    assert report.problem is not None and report.problem.startswith(f"line {line}: ") and words in report.problem
    assert not report.torn_tail


def test_a_torn_tail_is_reported_refused_repaired_and_appends_continue(tmp_path: Path, fields: Fields) -> None:
    records = filled(tmp_path, fields, count=4)
    path = tmp_path / "audit.jsonl"
    fragment = b'{"action":"configuration_update","addr'
    with open(path, "ab") as handle:
        handle.write(fragment)  # a crash cut this append short (a write no journal line holds)

    report = records.audit.verify()
    assert not report.ok and report.torn_tail and report.entries == 4
    assert report.first_bad_line == 5
    assert report.problem == "line 5: torn last line (incomplete write, probably a crash)"

    with pytest.raises(AuditError, match="torn line") as refused:
        append(records, fields(9))
    assert refused.value.hint is not None and "--repair" in refused.value.hint
    assert path.read_bytes().endswith(fragment)  # nothing chained onto garbage

    with holding(records) as lease:
        result = records.repair(lease)
    assert result.repaired and result.fragment_bytes == len(fragment)
    assert result.fragment_sha256 == hashlib.sha256(fragment).hexdigest()
    assert (tmp_path / "audit.jsonl.torn").read_bytes() == fragment + b"\n"  # preserved, not dropped
    last = json.loads(lines_of(path)[-1])
    assert last["action"] == "audit_repair" and last["status"] == "success"
    assert last["torn_fragment_sha256"] == hashlib.sha256(fragment).hexdigest() and last["torn_fragment_bytes"] == len(fragment)
    assert records.audit.verify().ok

    append(records, fields(9))
    report = records.audit.verify()
    assert report.ok and report.entries == 6
    with holding(records) as lease:
        assert records.repair(lease).repaired is False  # nothing left to do


def test_an_unparsable_last_line_with_newline_is_a_torn_tail(tmp_path: Path, fields: Fields) -> None:
    records = filled(tmp_path, fields, count=2)
    with open(tmp_path / "audit.jsonl", "ab") as handle:
        handle.write(b"\x00\x00\x00\n")  # what a power cut can leave
    assert records.audit.verify().torn_tail
    with holding(records) as lease:
        records.repair(lease)
    assert records.audit.verify().ok
    assert (tmp_path / "audit.jsonl.torn").read_bytes() == b"\x00\x00\x00\n"


def test_other_damage_is_not_repairable(tmp_path: Path, fields: Fields) -> None:
    records = filled(tmp_path, fields)
    path = tmp_path / "audit.jsonl"
    path.write_text("".join(edit_field(lines_of(path), 2, rehash=False)) + '{"torn')
    before = path.read_bytes()
    with holding(records) as lease, pytest.raises(AuditError, match=r"cannot be repaired: line 2: entry_hash does not match"):
        records.repair(lease)
    assert path.read_bytes() == before
    assert not (tmp_path / "audit.jsonl.torn").exists()


def test_the_fields_apply_writes_are_accepted(tmp_path: Path, fields: Fields) -> None:
    """pending intent, then the outcome; a forget; an interrupted operation closed later."""
    records = local_records(tmp_path)
    operation = str(uuid.uuid4())
    append(
        records,
        fields(1, status="pending", operation_id=operation, latency_ms=0),
        fields(1, status="success", operation_id=operation, version=5, plan_checksum="ab" * 32),
        fields(2, action="state_forget", compliance_mode=None, latency_ms=0),
        fields(3, status="failure", error_code="interrupted", error_message="the apply was interrupted"),
    )
    assert records.audit.verify().ok


def test_entries_filter_by_model_and_skip_a_torn_tail(tmp_path: Path, fields: Fields) -> None:
    records = filled(tmp_path, fields, count=4)
    append(records, fields(1, status="failure"))
    with open(tmp_path / "audit.jsonl", "ab") as handle:
        handle.write(b'{"mod')
    assert len(list(records.audit.entries())) == 5
    of_model = records.audit.entries(model_id="A1B2C3D4-E5F6-7890-ABCD-000000000002")
    assert [entry["status"] for entry in of_model] == ["success", "failure"]

"""What only files can suffer while a time window is read from the audit trail
(the contract suite checks the window itself on every backend)."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.model.errors import AuditError
from tests.records.records_helpers import append, local_records, update_fields


def day(number: int) -> str:
    return f"2026-11-{number:02d}T12:00:00.000Z"


def test_garbage_deep_in_history_does_not_stop_a_window_after_it(tmp_path: Path) -> None:
    """Reading the whole trail stops at the bad line; the window after it is found by a
    binary search that never reads it (the file is far larger than what is read line by line)."""
    records = local_records(tmp_path)
    store = records.audit
    written = append(records, *(update_fields(index % 50, timestamp=f"2026-11-{1 + index // 200:02d}T{(index // 10) % 20:02d}:{index % 10:02d}:00.000Z") for index in range(1200)))
    lines = store.path.read_bytes().splitlines(keepends=True)
    assert store.path.stat().st_size > 4 * 65536
    lines[20] = b"x" * (len(lines[20]) - 1) + b"\n"
    store.path.write_bytes(b"".join(lines))

    with pytest.raises(AuditError, match="line 21: not valid JSON"):
        list(store.entries())
    assert list(store.entries_since(day(5).replace("12:00", "00:00"))) == written[800:]


def test_a_torn_last_line_is_no_entry_of_the_window(tmp_path: Path) -> None:
    records = local_records(tmp_path)
    store = records.audit
    written = append(records, *(update_fields(index, timestamp=day(index + 1)) for index in range(3)))
    with open(store.path, "ab") as trail:
        trail.write(b'{"action":"configuration_update","timestamp":"2026-11-04T')
    assert list(store.entries_since(day(2))) == written[1:]
    assert list(store.entries_since(day(4))) == []


def test_a_bad_line_inside_the_window_is_named_by_its_byte_offset(tmp_path: Path) -> None:
    records = local_records(tmp_path)
    store = records.audit
    append(records, *(update_fields(index, timestamp=day(index + 1)) for index in range(4)))
    lines = store.path.read_bytes().splitlines(keepends=True)
    offset = sum(len(line) for line in lines[:2])
    lines[2] = b"\n"
    store.path.write_bytes(b"".join(lines))
    with pytest.raises(AuditError, match=f"at byte {offset}: empty line"):
        list(store.entries_since(day(2)))

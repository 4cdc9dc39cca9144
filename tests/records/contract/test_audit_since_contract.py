"""AuditStore.entries_since: the entries of a time window (a report of the last N days),
found without reading the history before it — on every backend."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Iterator

import psycopg
from contract_backends import Backend, update_fields
from pg_server import PostgresServer
from psycopg import sql

from planner.environment import StateSettings
from planner.records import open_records
from planner.records.chain import GENESIS_HASH, chained_entry
from planner.records.interfaces import Records
from planner.records.pg.database import TIMESTAMP_OF_ENTRY


def day(number: int, hour: int = 12) -> str:
    return f"2026-11-{number:02d}T{hour:02d}:00:00.000Z"


def stamped(records: Records, stamps: list[str]) -> list[dict[str, Any]]:
    """One update entry per timestamp, appended through the interface."""
    return [records.audit.append(update_fields(index % 50, timestamp=stamp)) for index, stamp in enumerate(stamps)]


def test_an_empty_trail_has_no_entries_since_any_time(records: Records) -> None:
    assert list(records.audit.entries_since(day(1))) == []


def test_entries_since_a_time_are_those_stamped_at_or_after_it_in_order(backend: Backend, records: Records) -> None:
    written = stamped(records, [day(number, hour) for number in range(1, 11) for hour in (8, 20)])
    reader = backend.open()

    assert list(reader.audit.entries_since(day(6, 0))) == written[10:]  # days 6 to 10, two each
    assert list(reader.audit.entries_since(day(6, 8))) == written[10:]  # an entry stamped exactly then is in
    assert list(reader.audit.entries_since("2026-11-06T08:00:00.001Z")) == written[11:]
    assert list(reader.audit.entries_since(day(1, 0))) == written  # before the first: everything
    assert list(reader.audit.entries_since(day(11))) == []  # after the last: nothing
    assert list(reader.audit.entries_since(day(10, 20))) == written[-1:]


def test_entries_appended_after_a_checkpoint_are_in_the_window_too(records: Records) -> None:
    early = stamped(records, [day(2), day(3)])
    records.audit.checkpoint()
    late = stamped(records, [day(4), day(5)])
    assert list(records.audit.entries_since(day(3))) == [early[1], *late]


def chained(count: int) -> Iterator[dict[str, Any]]:
    """``count`` update entries a minute apart, chained from the start (written in one go by append_verbatim)."""
    previous = GENESIS_HASH
    for minute in range(count):
        stamp = f"2026-11-{1 + minute // 1440:02d}T{(minute // 60) % 24:02d}:{minute % 60:02d}:00.000Z"
        entry = chained_entry(update_fields(minute % 50), previous_hash=previous, now=stamp)
        previous = entry["entry_hash"]
        yield entry


def test_a_window_at_the_end_of_a_long_trail_holds_exactly_its_entries(backend: Backend, records: Records) -> None:
    assert records.audit.append_verbatim(chained(3000)) == 3000
    everything = list(records.audit.entries())
    reader = backend.open()
    for first in (0, 1, 1499, 2500, 2999):
        assert list(reader.audit.entries_since(everything[first]["timestamp"])) == everything[first:]


def test_postgres_finds_the_window_through_an_index_on_the_timestamp(postgres: PostgresServer) -> None:
    schema = f"contract_{uuid.uuid4().hex[:12]}"
    records = open_records("dev", Path("/nonexistent"), StateSettings(backend="postgres", schema=schema), environ={"LLMPLAN_PG_DSN": postgres.dsn})
    try:
        stamped(records, [day(1), day(2)])
        with psycopg.connect(postgres.dsn, autocommit=True) as connection:
            connection.execute("SET enable_seqscan = off")
            query = sql.SQL("EXPLAIN SELECT entry FROM {}.audit WHERE environment = %s AND {} >= %s ORDER BY seq").format(sql.Identifier(schema), sql.SQL(TIMESTAMP_OF_ENTRY))
            plan = " ".join(row[0] for row in connection.execute(query, ("dev", day(2))).fetchall())
    finally:
        records.close()
    assert "audit_by_time" in plan

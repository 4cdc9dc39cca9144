"""AuditReader.entries_since: the entries of a time window (a report of the last N days),
found without reading the history before it — on every backend."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import psycopg
from psycopg import sql

from planner.adapters.records import open_records
from planner.adapters.records.chain import GENESIS_HASH, chained_entry
from planner.adapters.records.interfaces import Migratable, Records
from planner.adapters.records.pg.database import TIMESTAMP_OF_ENTRY
from planner.model.audit import COMMIT_ACTION
from planner.model.settings import StateSettings
from tests.pg_server import PostgresServer
from tests.records.contract.contract_backends import Backend, update_fields
from tests.records.records_helpers import append, checkpoint, holding


def day(number: int, hour: int = 12) -> str:
    return f"2026-11-{number:02d}T{hour:02d}:00:00.000Z"


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def stamped(records: Records, stamps: list[str]) -> list[dict[str, Any]]:
    """One update entry per timestamp, recorded under the lock as a command would."""
    return append(records, *(update_fields(index % 50, timestamp=stamp) for index, stamp in enumerate(stamps)))


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


def test_entries_recorded_after_a_checkpoint_are_in_the_window_too(records: Records) -> None:
    now = datetime.now(timezone.utc)
    early = stamped(records, [stamp(now - timedelta(days=2)), stamp(now - timedelta(days=1))])
    checkpoint(records)  # the commit's own entry is stamped by the clock, between the two pairs
    late = stamped(records, [stamp(now + timedelta(hours=1)), stamp(now + timedelta(hours=2))])

    window = list(records.audit.entries_since(early[1]["timestamp"]))

    assert window[0] == early[1] and window[-2:] == late
    assert {entry["action"] for entry in window[1:-2]} == {COMMIT_ACTION}


def chained(count: int) -> Iterator[dict[str, Any]]:
    """``count`` update entries a minute apart, chained from the start (written in one go by append_verbatim)."""
    previous = GENESIS_HASH
    for minute in range(count):
        at = f"2026-11-{1 + minute // 1440:02d}T{(minute // 60) % 24:02d}:{minute % 60:02d}:00.000Z"
        entry = chained_entry(update_fields(minute % 50), previous_hash=previous, now=at)
        previous = entry["entry_hash"]
        yield entry


def test_a_window_at_the_end_of_a_long_trail_holds_exactly_its_entries(backend: Backend, records: Records) -> None:
    assert isinstance(records, Migratable)
    with holding(records) as lease:
        assert records.append_verbatim(lease, chained(3000)) == 3000
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

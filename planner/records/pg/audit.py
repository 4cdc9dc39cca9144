"""The audit trail in PostgreSQL: one row per entry, chained exactly as the file's lines.

Each row keeps the entry's canonical text, so ``audit verify`` checks the
same bytes the same way on either backend. Appends are serialized by a row
lock on the environment's ``audit_heads`` row (the last entry's number and
hash), so concurrent runners keep one linear chain. ``audit_checkpoints``
is the checkpoint: count, hash and the oldest unsettled operation.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator, Mapping

import psycopg
from psycopg import sql

from planner.clock import utc_now
from planner.configuration import canonical_json
from planner.errors import AuditError
from planner.records.chain import GENESIS_HASH, ChainCheck, chained_entry, hash_holds, track_unsettled
from planner.records.interfaces import AuditReport, RecentEntries, RepairResult
from planner.records.pg.database import TIMESTAMP_OF_ENTRY, Database


class PostgresAuditStore:
    def __init__(self, database: Database, environment: str, *, clock: Callable[[], str] = utc_now) -> None:
        self.db = database
        self.environment = environment
        self._clock = clock
        # The head as of our last committed append: while it holds, an append needs no
        # read (one round trip with the rest of its transaction); if another writer moved
        # the head meanwhile, the insert of our entry number fails and the head is read again.
        self._head: tuple[int, str] | None = None
        self._proposed: tuple[int, str] | None = None

    def __repr__(self) -> str:
        return f"PostgresAuditStore({self.db.target.describe()}, environment={self.environment!r})"

    # --- writing ---------------------------------------------------------

    def append(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        return self.in_transaction(lambda cursor: self.append_in(cursor, fields))

    def in_transaction(self, work: Callable[[psycopg.Cursor[Any]], Any]) -> Any:
        """Run ``work`` (which appends) in one transaction; once more if another writer moved the head."""
        nested = self.db.depth > 0  # inside a caller's transaction, which may still roll back
        for attempt in (1, 2, 3):
            self._proposed = None
            if nested:
                self._head = None  # read the head under its row lock; remember nothing we cannot know was committed
            known = self._head is not None
            try:
                with self.db.transaction(pipeline=known) as cursor:
                    result = work(cursor)
            except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected):
                self._head = None  # someone else appended: read the head, under its row lock, and try again
                if attempt == 3:
                    raise
                continue
            except BaseException:
                self._head = None
                raise
            self._head, self._proposed = (None if nested else self._proposed), None
            return result
        raise AssertionError("unreachable")

    def append_in(self, cursor: psycopg.Cursor[Any], fields: Mapping[str, Any]) -> dict[str, Any]:
        """Part of a caller's transaction (the unit of work; see :meth:`in_transaction`)."""
        heads = self.db.table("audit_heads")
        if self._proposed is not None:  # a second append in one transaction
            entries, previous = self._proposed
        elif self._head is not None:
            entries, previous = self._head
        else:
            cursor.execute(sql.SQL("INSERT INTO {} (environment, entries, entry_hash) VALUES (%s, 0, %s) ON CONFLICT DO NOTHING").format(heads), (self.environment, GENESIS_HASH))
            cursor.execute(sql.SQL("SELECT entries, entry_hash FROM {} WHERE environment = %s FOR UPDATE").format(heads), (self.environment,))
            row = cursor.fetchone()
            assert row is not None
            entries, previous = int(row[0]), str(row[1])
        entry = chained_entry(fields, previous_hash=previous, now=self._clock())
        model_id = str(entry["model_id"]).lower() if entry.get("model_id") else None
        # The heads row first, as every appender takes it (no deadlock); if another writer moved it
        # since we read it, nothing is updated and the insert of our number fails: the caller retries.
        cursor.execute(
            sql.SQL("UPDATE {} SET entries = %s, entry_hash = %s WHERE environment = %s AND entries = %s AND entry_hash = %s").format(heads),
            (entries + 1, entry["entry_hash"], self.environment, entries, previous),
        )
        cursor.execute(
            sql.SQL("INSERT INTO {} (environment, seq, model_id, entry_hash, entry) VALUES (%s, %s, %s, %s, %s)").format(self.db.table("audit")),
            (self.environment, entries + 1, model_id, entry["entry_hash"], canonical_json(entry)),
        )
        self._proposed = (entries + 1, str(entry["entry_hash"]))
        return entry

    def append_verbatim(self, entries: Iterator[dict[str, Any]]) -> int:
        """Append entries already chained elsewhere, text unchanged (``state migrate``); returns how many."""
        count = 0
        self._head = None
        with self.db.transaction() as cursor:
            heads = self.db.table("audit_heads")
            cursor.execute(sql.SQL("INSERT INTO {} (environment, entries, entry_hash) VALUES (%s, 0, %s) ON CONFLICT DO NOTHING").format(heads), (self.environment, GENESIS_HASH))
            cursor.execute(sql.SQL("SELECT entries, entry_hash FROM {} WHERE environment = %s FOR UPDATE").format(heads), (self.environment,))
            row = cursor.fetchone()
            assert row is not None
            number, last = int(row[0]), str(row[1])
            for entry in entries:
                text = canonical_json(entry)
                if entry.get("prev_hash") != last:
                    raise AuditError(f"entry {number + 1} does not chain onto the trail in {self.db.target.describe()}; nothing was copied")
                number += 1
                last = str(entry["entry_hash"])
                model_id = str(entry["model_id"]).lower() if entry.get("model_id") else None
                cursor.execute(
                    sql.SQL("INSERT INTO {} (environment, seq, model_id, entry_hash, entry) VALUES (%s, %s, %s, %s, %s)").format(self.db.table("audit")),
                    (self.environment, number, model_id, last, text),
                )
                count += 1
            cursor.execute(sql.SQL("UPDATE {} SET entries = %s, entry_hash = %s WHERE environment = %s").format(heads), (number, last, self.environment))
        return count

    def checkpoint(self) -> None:
        """Move the checkpoint to the head; reads only what was written since the last one."""
        with self.db.transaction() as cursor:
            cursor.execute(sql.SQL("SELECT entries, entry_hash FROM {} WHERE environment = %s").format(self.db.table("audit_heads")), (self.environment,))
            head = cursor.fetchone()
            if head is None or int(head[0]) == 0:
                return
            entries, entry_hash, unsettled_from = self._checkpoint(cursor)
            if entries == int(head[0]):
                return
            check = ChainCheck(previous=entry_hash, number=entries)
            unsettled: dict[str, tuple[int, int]] = {}
            for seq, text in self._rows(cursor, unsettled_from):
                entry = json.loads(text)
                if seq > entries and not check.feed(entry, text.encode("utf-8")):
                    return  # a broken chain is verify's to report, not a checkpoint's to anchor
                track_unsettled(unsettled, entry, seq - 1)
            oldest = min(unsettled.values(), default=(check.number, 0))[0]
            cursor.execute(
                sql.SQL(
                    "INSERT INTO {} (environment, entries, entry_hash, unsettled_entries) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (environment) DO UPDATE SET entries = EXCLUDED.entries, entry_hash = EXCLUDED.entry_hash, unsettled_entries = EXCLUDED.unsettled_entries"
                ).format(self.db.table("audit_checkpoints")),
                (self.environment, check.number, check.previous, oldest),
            )

    def repair(self) -> RepairResult:
        """A database has no torn entries: nothing to repair, or damage that is not repairable."""
        report = self.verify_recent()
        if report.ok:
            return RepairResult(repaired=False)
        raise AuditError(f"the audit trail of {self.environment} in {self.db.target.describe()} cannot be repaired: {report.problem}", hint="restore it from a database backup")

    # --- reading ---------------------------------------------------------

    def _checkpoint(self, cursor: psycopg.Cursor[Any]) -> tuple[int, str, int]:
        cursor.execute(sql.SQL("SELECT entries, entry_hash, unsettled_entries FROM {} WHERE environment = %s").format(self.db.table("audit_checkpoints")), (self.environment,))
        row = cursor.fetchone()
        return (int(row[0]), str(row[1]), int(row[2])) if row else (0, GENESIS_HASH, 0)

    def _rows(self, cursor: psycopg.Cursor[Any], after: int) -> list[tuple[int, str]]:
        cursor.execute(sql.SQL("SELECT seq, entry FROM {} WHERE environment = %s AND seq > %s ORDER BY seq").format(self.db.table("audit")), (self.environment, after))
        return [(int(seq), str(text)) for seq, text in cursor.fetchall()]

    def find(self, entry_hash: str) -> dict[str, Any] | None:
        """The entry with this hash (by index), or None."""
        with self.db.transaction() as cursor:
            cursor.execute(sql.SQL("SELECT entry FROM {} WHERE environment = %s AND entry_hash = %s ORDER BY seq DESC LIMIT 1").format(self.db.table("audit")), (self.environment, entry_hash))
            row = cursor.fetchone()
        entry = _parse(row[0]) if row else None
        return entry if isinstance(entry, dict) and entry.get("entry_hash") == entry_hash else None

    def checkpointed(self) -> dict[str, Any] | None:
        """The entry the checkpoint ends at; None if there is none."""
        with self.db.transaction() as cursor:
            entries = self._checkpoint(cursor)[0]
            cursor.execute(sql.SQL("SELECT entry FROM {} WHERE environment = %s AND seq = %s").format(self.db.table("audit")), (self.environment, entries))
            row = cursor.fetchone()
        entry = _parse(row[0]) if row else None
        return entry if isinstance(entry, dict) else None

    def recent(self) -> RecentEntries:
        with self.db.transaction() as cursor:
            entries, _, unsettled_from = self._checkpoint(cursor)
            rows = self._rows(cursor, unsettled_from)
        return RecentEntries(tuple(json.loads(text) for _, text in rows), entries - unsettled_from)

    def entries(self, *, model_id: str | None = None) -> Iterator[dict[str, Any]]:
        audit = self.db.table("audit")
        params: tuple[str, ...]
        if model_id is None:
            query, params = sql.SQL("SELECT entry FROM {} WHERE environment = %s ORDER BY seq").format(audit), (self.environment,)
        else:
            query, params = sql.SQL("SELECT entry FROM {} WHERE environment = %s AND model_id = %s ORDER BY seq").format(audit), (self.environment, model_id.lower())
        with self.db.streaming(query, params) as rows:
            for (text,) in rows:
                yield json.loads(text)

    def entries_since(self, since: str) -> Iterator[dict[str, Any]]:
        """Entries stamped at or after ``since``, in chain order, through the ``audit_by_time``
        index (migration 2): the history before the window is never read."""
        query = sql.SQL("SELECT entry FROM {} WHERE environment = %s AND {} >= %s ORDER BY seq").format(self.db.table("audit"), sql.SQL(TIMESTAMP_OF_ENTRY))
        with self.db.streaming(query, (self.environment, since)) as rows:
            for (text,) in rows:
                yield json.loads(text)

    def verify(self) -> AuditReport:
        """The whole chain, row by row through a server-side cursor: constant memory."""
        with self.db.transaction() as cursor:
            checkpoint = self._checkpoint(cursor)
            head = self._stored_head(cursor)
        check = ChainCheck()
        query = sql.SQL("SELECT entry FROM {} WHERE environment = %s ORDER BY seq").format(self.db.table("audit"))
        with self.db.streaming(query, (self.environment,)) as rows:
            for (text,) in rows:
                if not check.feed(_parse(text), text.encode("utf-8")):
                    return AuditReport(False, check.number, check.first_bad, check.problem)
                if check.number == checkpoint[0] and check.previous != checkpoint[1]:
                    return AuditReport(False, check.number, check.number, f"line {check.number}: does not match the hash recorded in the checkpoint (the trail was rewritten)")
        return self._ends_where_recorded(check, checkpoint, head) or AuditReport(True, check.number)

    def verify_recent(self) -> AuditReport:
        """From the checkpoint on, and that the checkpointed entry is still there unchanged."""
        with self.db.transaction() as cursor:
            checkpoint = self._checkpoint(cursor)
            head = self._stored_head(cursor)
            entries, entry_hash, _ = checkpoint
            if entries:
                cursor.execute(sql.SQL("SELECT entry FROM {} WHERE environment = %s AND seq = %s").format(self.db.table("audit")), (self.environment, entries))
                row = cursor.fetchone()
                if row is None:
                    return AuditReport(False, 0, entries, f"line {entries}: missing: the checkpoint records {entries} entries (entries were removed from the end)")
                anchored = _parse(row[0])
                if not isinstance(anchored, dict) or anchored.get("entry_hash") != entry_hash or not hash_holds(anchored, str(row[0]).encode("utf-8")):
                    return AuditReport(False, entries, entries, f"line {entries}: does not match the hash recorded in the checkpoint (the trail was rewritten)")
            rows = self._rows(cursor, entries)
        check = ChainCheck(previous=entry_hash, number=entries)
        for _, text in rows:
            if not check.feed(_parse(text), text.encode("utf-8")):
                return AuditReport(False, check.number, check.first_bad, check.problem)
        return self._ends_where_recorded(check, checkpoint, head) or AuditReport(True, check.number)

    def _stored_head(self, cursor: psycopg.Cursor[Any]) -> tuple[int, str]:
        cursor.execute(sql.SQL("SELECT entries, entry_hash FROM {} WHERE environment = %s").format(self.db.table("audit_heads")), (self.environment,))
        row = cursor.fetchone()
        return (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH)

    @staticmethod
    def _ends_where_recorded(check: ChainCheck, checkpoint: tuple[int, str, int], head: tuple[int, str]) -> AuditReport | None:
        """Entries removed from the end leave a shorter chain that still links: the checkpoint and the head notice."""
        for recorded, name in ((checkpoint[0], "the checkpoint"), (head[0], "the trail's head")):
            if check.number < recorded:
                return AuditReport(False, check.number, check.number + 1, f"line {check.number + 1}: missing: {name} records {recorded} entries but the log has {check.number} (lines were removed from the end)")
        if head[0] == check.number and head[0] and head[1] != check.previous:
            return AuditReport(False, check.number, check.number, f"line {check.number}: does not match the hash recorded in the trail's head (the trail was rewritten)")
        return None


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None

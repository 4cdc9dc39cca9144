"""The audit trail in PostgreSQL: one row per entry, chained exactly as the file's lines.

Each row keeps the entry's canonical text, so ``audit verify`` checks the
same bytes the same way on either backend; its number (``seq``) is its
position. Appends happen inside a unit of work's transaction
(:class:`~planner.adapters.records.pg.PostgresRecords`), serialized by a
row lock on the environment's ``audit_heads`` row (the last entry's number
and hash), so concurrent runners keep one linear chain.
``audit_checkpoints`` is the checkpoint: count, hash and the oldest
unsettled operation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import psycopg
from psycopg import sql

from planner.adapters.records.chain import GENESIS_HASH, ChainCheck, chained_entry, hash_holds, track_unsettled
from planner.adapters.records.interfaces import AuditReport, RecentEntries
from planner.adapters.records.pg.database import TIMESTAMP_OF_ENTRY, Database
from planner.model.clock import utc_now
from planner.model.configuration import canonical_json
from planner.model.errors import AuditError


@dataclass
class Tail:
    """Where the trail ends, inside a writer's transaction: the last entry's number and hash."""

    entries: int
    entry_hash: str


class PostgresAuditTrail:
    def __init__(self, database: Database, environment: str, *, clock: Callable[[], str] = utc_now) -> None:
        self.db = database
        self.environment = environment
        self._clock = clock

    def __repr__(self) -> str:
        return f"PostgresAuditTrail({self.db.target.describe()}, environment={self.environment!r})"

    # --- what the writer needs (inside its transaction) -----------------------------

    def head_in(self, cursor: psycopg.Cursor[Any]) -> Tail:
        """The trail's end, its row locked until the transaction ends: appends of two writers never interleave."""
        heads = self.db.table("audit_heads")
        cursor.execute(sql.SQL("INSERT INTO {} (environment, entries, entry_hash) VALUES (%s, 0, %s) ON CONFLICT DO NOTHING").format(heads), (self.environment, GENESIS_HASH))
        cursor.execute(sql.SQL("SELECT entries, entry_hash FROM {} WHERE environment = %s FOR UPDATE").format(heads), (self.environment,))
        row = cursor.fetchone()
        assert row is not None
        return Tail(int(row[0]), str(row[1]))

    def append_in(self, cursor: psycopg.Cursor[Any], tail: Tail, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Chain ``fields`` after ``tail`` and insert it (``tail`` moves on); :meth:`close_in` records the new end."""
        entry = chained_entry(fields, previous_hash=tail.entry_hash, now=self._clock())
        self.insert_in(cursor, tail, entry)
        return entry

    def insert_in(self, cursor: psycopg.Cursor[Any], tail: Tail, entry: Mapping[str, Any]) -> None:
        """Insert an entry already chained after ``tail`` (``state migrate`` copies them so)."""
        if entry.get("prev_hash") != tail.entry_hash:
            raise AuditError(f"entry {tail.entries + 1} does not chain onto the trail in {self.db.target.describe()}; nothing was written")
        model_id = str(entry["model_id"]).lower() if entry.get("model_id") else None
        cursor.execute(
            sql.SQL("INSERT INTO {} (environment, seq, model_id, entry_hash, entry) VALUES (%s, %s, %s, %s, %s)").format(self.db.table("audit")),
            (self.environment, tail.entries + 1, model_id, entry["entry_hash"], canonical_json(entry)),
        )
        tail.entries, tail.entry_hash = tail.entries + 1, str(entry["entry_hash"])

    def close_in(self, cursor: psycopg.Cursor[Any], tail: Tail) -> None:
        cursor.execute(sql.SQL("UPDATE {} SET entries = %s, entry_hash = %s WHERE environment = %s").format(self.db.table("audit_heads")), (tail.entries, tail.entry_hash, self.environment))

    def checkpoint_in(self, cursor: psycopg.Cursor[Any]) -> None:
        """Move the checkpoint to the head, in ``cursor``'s transaction; reads only what was written since the last one."""
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

    # --- reading ---------------------------------------------------------

    def _checkpoint(self, cursor: psycopg.Cursor[Any]) -> tuple[int, str, int]:
        cursor.execute(sql.SQL("SELECT entries, entry_hash, unsettled_entries FROM {} WHERE environment = %s").format(self.db.table("audit_checkpoints")), (self.environment,))
        row = cursor.fetchone()
        return (int(row[0]), str(row[1]), int(row[2])) if row else (0, GENESIS_HASH, 0)

    def _rows(self, cursor: psycopg.Cursor[Any], after: int) -> list[tuple[int, str]]:
        cursor.execute(sql.SQL("SELECT seq, entry FROM {} WHERE environment = %s AND seq > %s ORDER BY seq").format(self.db.table("audit")), (self.environment, after))
        return [(int(seq), str(text)) for seq, text in cursor.fetchall()]

    def entry_at(self, position: int) -> dict[str, Any] | None:
        """The entry numbered ``position`` (its ``seq``), or None."""
        with self.db.transaction() as cursor:
            cursor.execute(sql.SQL("SELECT entry FROM {} WHERE environment = %s AND seq = %s").format(self.db.table("audit")), (self.environment, position))
            row = cursor.fetchone()
        if row is None:
            return None
        entry = _parse(row[0])
        return entry if isinstance(entry, dict) and hash_holds(entry, str(row[0]).encode("utf-8")) else None

    def position_of(self, entry_hash: str) -> int | None:
        """The number of the entry hashed ``entry_hash`` (by index: for ``state migrate``, which places a state copied from elsewhere)."""
        with self.db.transaction() as cursor:
            cursor.execute(sql.SQL("SELECT seq FROM {} WHERE environment = %s AND entry_hash = %s ORDER BY seq DESC LIMIT 1").format(self.db.table("audit")), (self.environment, entry_hash))
            row = cursor.fetchone()
        return int(row[0]) if row else None

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

    def entries(self, *, model_id: str | None = None, position: int | None = None) -> Iterator[dict[str, Any]]:
        audit = self.db.table("audit")
        after = (position or 1) - 1  # from the entry numbered ``position`` on
        params: tuple[Any, ...]
        if model_id is None:
            query, params = sql.SQL("SELECT entry FROM {} WHERE environment = %s AND seq > %s ORDER BY seq").format(audit), (self.environment, after)
        else:
            query, params = sql.SQL("SELECT entry FROM {} WHERE environment = %s AND model_id = %s AND seq > %s ORDER BY seq").format(audit), (self.environment, model_id.lower(), after)
        with self.db.streaming(query, params) as rows:
            for (text,) in rows:
                yield json.loads(text)

    def entries_since(self, since: str) -> Iterator[dict[str, Any]]:
        """Entries stamped at or after ``since``, in chain order, through the ``audit_by_time``
        index (migration 3): the history before the window is never read."""
        query = sql.SQL("SELECT entry FROM {} WHERE environment = %s AND {} >= %s ORDER BY seq").format(self.db.table("audit"), sql.SQL(TIMESTAMP_OF_ENTRY))
        with self.db.streaming(query, (self.environment, since)) as rows:
            for (text,) in rows:
                yield json.loads(text)

    def verify(self) -> AuditReport:
        """The whole chain, row by row through a server-side cursor: constant memory."""
        with self.db.transaction() as cursor:
            checkpoint = self._checkpoint(cursor)
            head = self._stored_head(cursor)
        check = ChainCheck(environment=self.environment)
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
        check = ChainCheck(previous=entry_hash, number=entries, environment=self.environment)
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

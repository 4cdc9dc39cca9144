"""The PostgreSQL backend: a team's CI runners and laptops share one state, lock and audit trail.

Tables live in one schema (``state.schema``, default ``llmplan``), created
on first use through migrations recorded in ``schema_version``; several
environments share them, keyed by name. Every write is one transaction
that starts with the fencing check (``llmplan_fence``): a unit of work's
journal row, audit entry and outbox event commit together or not at all,
and units of work recorded while a transaction is in flight share the next
one (group commit). Needs ``pip install 'llmplan[postgres]'`` (psycopg 3).
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Mapping, Sequence

import psycopg
from psycopg import sql

from planner.adapters.records.chain import chained_entry
from planner.adapters.records.group_commit import GroupCommit
from planner.adapters.records.interfaces import Change, Lease, Recorded, StateSnapshot
from planner.adapters.records.journal import JournalChange, fold
from planner.adapters.records.pg.audit import PostgresAuditTrail, Tail
from planner.adapters.records.pg.connection import dsn_from, target_of
from planner.adapters.records.pg.database import FENCE_REFUSED, Database
from planner.adapters.records.pg.lock import PostgresLocker
from planner.adapters.records.pg.outbox import PostgresOutbox
from planner.adapters.records.pg.state import PostgresStateReader
from planner.adapters.records.vouching import commit_entry, head_of, placed
from planner.model.clock import utc_now
from planner.model.configuration import canonical_json
from planner.model.errors import AuditError, LockLost, StateError
from planner.model.settings import StateSettings
from planner.model.state import ResourceState, State

Batch = tuple[Lease, tuple[Change, ...]]


class PostgresRecords:
    """One environment's records over one database connection."""

    def __init__(self, database: Database, environment: str) -> None:
        self.db = database
        self.environment = environment
        self.name = f"{database.target.describe()}, environment {environment}"
        self.state = PostgresStateReader(database, environment)
        self.locker = PostgresLocker(database, environment)
        self.audit = PostgresAuditTrail(database, environment)
        self.outbox = PostgresOutbox(database, environment)
        self._group: GroupCommit[Batch, list[Recorded]] = GroupCommit(self._flush)

    def __repr__(self) -> str:
        return f"PostgresRecords({self.name!r})"

    @property
    def fsyncs(self) -> int:
        """Transactions of units of work so far (group commits), for the tests that count them."""
        return self._group.batches

    def is_empty(self) -> bool:
        with self.db.transaction() as cursor:
            cursor.execute(
                sql.SQL("SELECT (SELECT count(*) FROM {} WHERE environment = %s) + (SELECT count(*) FROM {} WHERE environment = %s)").format(
                    self.db.table("states"), self.db.table("audit")
                ),
                (self.environment, self.environment),
            )
            row = cursor.fetchone()
        return not (row and row[0])

    def refresh(self, lease: Lease) -> StateSnapshot:
        """Nothing to catch up in a database: every unit of work committed whole. The state as it is."""
        return self.state.read()

    def record(self, lease: Lease, changes: Sequence[Change]) -> list[Recorded]:
        return self._group.submit((lease, tuple(changes)))

    def _flush(self, batches: Sequence[Batch]) -> list[list[Recorded] | BaseException]:
        """One transaction for every unit of work of ``batches``; a unit a schema refuses fails alone, nothing of it written."""
        lease = batches[0][0]
        results: list[list[Recorded] | BaseException] = []
        with self._fenced(lease) as cursor:
            lineage = self.state.current_lineage(cursor)
            tail = self.audit.head_in(cursor)
            for held, changes in batches:
                if held.token != lease.token:
                    results.append(LockLost(f"two leases of environment {self.environment} in one process; only token {lease.token} can be current, not {held.token}"))
                    continue
                try:
                    prepared = self._prepare(changes, lineage, Tail(tail.entries, tail.entry_hash))
                except (AuditError, StateError) as refused:
                    results.append(refused)
                    continue
                recorded = []
                for state_changes, entry, event in prepared:
                    for state_change in state_changes:
                        self.state.journal(cursor, state_change)
                    if entry is not None:
                        self.audit.insert_in(cursor, tail, entry)
                    if event is not None:
                        self.outbox.enqueue_in(cursor, event)
                    recorded.append(Recorded(entry, event, tail.entries if entry is not None else None))
                results.append(recorded)
            self.audit.close_in(cursor, tail)
        return results

    def _prepare(self, changes: Sequence[Change], lineage: str, tail: Tail) -> list[tuple[list[JournalChange], dict[str, Any] | None, dict[str, Any] | None]]:
        """What each change writes, built and checked against the schemas before anything is: entries chained from ``tail`` on."""
        prepared = []
        for change in changes:
            state_changes = []
            if change.resource is not None:
                ResourceState.from_dict(change.resource._json_view(), source=f"resource {change.resource.address!r}")
                state_changes.append(JournalChange(lineage, change.resource.address, change.resource))
            if change.forget is not None:
                state_changes.append(JournalChange(lineage, change.forget, None))
            entry = None
            if change.audit_fields is not None:
                entry = chained_entry(change.audit_fields, previous_hash=tail.entry_hash, now=utc_now())
                tail.entries, tail.entry_hash = tail.entries + 1, str(entry["entry_hash"])
            event = dict(change.event) if change.event is not None else (change.event_for(entry) if change.event_for is not None and entry is not None else None)
            prepared.append((state_changes, entry, event))
        return prepared

    def commit(self, lease: Lease, *, rewrite: bool = False) -> State:
        """One transaction: the state, the entry that vouches for it, the checkpoint."""
        with self._fenced(lease) as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"llmplan state {self.db.target.schema} {self.environment}",))
            persisted, _tampered, changes = self.state.load(cursor)
            lineage = self.state.current_lineage(cursor)
            state = fold(persisted, changes, environment=self.environment) or State.empty(lineage, environment=self.environment)
            write = state is not persisted or rewrite or state.environment is None
            if write:
                if state.environment is None:
                    state = State(state.lineage, state.serial, state.resources, state.format_version, state.tool_version, state.audit_head, self.environment)
                tail = self.audit.head_in(cursor)
                entry = self.audit.append_in(cursor, tail, commit_entry(state, self.environment))
                self.audit.close_in(cursor, tail)
                state = state.vouched_by(head_of(entry, tail.entries))
                self.state.write(cursor, persisted, state, {change.address for change in changes})
            else:
                cursor.execute(sql.SQL("DELETE FROM {} WHERE environment = %s").format(self.db.table("journal")), (self.environment,))
            self.audit.checkpoint_in(cursor)
        return state

    def _fenced(self, lease: Lease) -> "_FencedTransaction":
        """A transaction whose first statement checks that ``lease`` is still the current holder."""
        return _FencedTransaction(self, lease)

    # --- state migrate --------------------------------------------------------------------

    def replace_state(self, lease: Lease, state: State) -> None:
        """``state`` written as it is (lineage and serial kept)."""
        state = placed(state, self.audit.position_of)
        with self._fenced(lease) as cursor:
            cursor.execute(sql.SQL("DELETE FROM {} WHERE environment = %s").format(self.db.table("resources")), (self.environment,))
            self.state.write(cursor, None, state, set(state.resources))

    def append_verbatim(self, lease: Lease, entries: Iterable[dict[str, Any]]) -> int:
        """Entries chained elsewhere, text unchanged, in one transaction; refused whole unless they chain on."""
        count = 0
        with self._fenced(lease) as cursor:
            tail = self.audit.head_in(cursor)
            for entry in entries:
                self.audit.insert_in(cursor, tail, entry)
                count += 1
            self.audit.close_in(cursor, tail)
        return count

    def enqueue(self, lease: Lease, events: Iterable[Mapping[str, Any]]) -> None:
        with self._fenced(lease) as cursor:
            for event in events:
                self.outbox.enqueue_in(cursor, event)

    def discard(self, lease: Lease) -> str:
        """``state migrate --discard-target``: the environment's rows kept under another name, out of the way."""
        committed = self.state.read().committed
        kept = f"{self.environment}@discarded-{committed.lineage if committed is not None else 'records'}-{utc_now()}"
        with self._fenced(lease) as cursor:
            for table in ("states", "resources", "journal", "audit", "audit_heads", "audit_checkpoints", "outbox"):
                cursor.execute(sql.SQL("UPDATE {} SET environment = %s WHERE environment = %s").format(self.db.table(table)), (kept, self.environment))
        self.state.adopt_none()
        return f"the rows of environment {kept!r} in {self.db.target.describe()}"

    def remember_drift(self, result: Mapping[str, Any]) -> None:
        with self.db.transaction() as cursor:
            cursor.execute(
                sql.SQL("INSERT INTO {} (environment, result) VALUES (%s, %s) ON CONFLICT (environment) DO UPDATE SET result = EXCLUDED.result").format(self.db.table("drift_results")),
                (self.environment, canonical_json(dict(result))),
            )

    def last_drift(self) -> dict[str, Any] | None:
        with self.db.transaction() as cursor:
            cursor.execute(sql.SQL("SELECT result FROM {} WHERE environment = %s").format(self.db.table("drift_results")), (self.environment,))
            row = cursor.fetchone()
        result = json.loads(row[0]) if row else None
        return result if isinstance(result, dict) else None

    def close(self) -> None:
        self.db.close()


class _FencedTransaction:
    """``with``: a cursor in one pipelined transaction that begins with ``llmplan_fence``; a refused token is LockLost."""

    def __init__(self, records: PostgresRecords, lease: Lease) -> None:
        self.records = records
        self.lease = lease
        self._context: Any = None

    def __enter__(self) -> psycopg.Cursor[Any]:
        self.records.db.require_writable()
        self._context = self.records.db.transaction(pipeline=True)
        cursor: psycopg.Cursor[Any] = self._context.__enter__()
        # sent with what follows (a pipeline): a refused token surfaces at the first answer read, or at the commit
        cursor.execute(sql.SQL("SELECT {}.llmplan_fence(%s, %s)").format(self.records.db.schema), (self.records.environment, self.lease.token))
        return cursor

    def __exit__(self, kind: Any, error: Any, trace: Any) -> bool:
        try:
            suppressed = bool(self._context.__exit__(kind, error, trace))
        except psycopg.Error as failure:
            if _fence_refused(failure):
                raise self._refused() from None
            raise
        if error is not None and _fence_refused(error):
            raise self._refused() from None
        return suppressed

    def _refused(self) -> LockLost:
        locker = self.records.locker
        return self.lease.taken_over(self.records.environment, locker._quietly(locker._current_token), locker._quietly(locker.holder))


def _fence_refused(error: BaseException) -> bool:
    return isinstance(error, psycopg.Error) and getattr(error, "sqlstate", None) == FENCE_REFUSED


def open_postgres_records(environment: str, settings: StateSettings, *, environ: Mapping[str, str] | None = None) -> PostgresRecords:
    """Connect (naming host and port, never the password, if that fails), migrate, and open."""
    dsn = dsn_from(os.environ if environ is None else environ, settings.dsn_env)
    database = Database(dsn, target_of(dsn, settings.schema), timeout=settings.timeout_seconds)
    try:
        database.migrate()
    except BaseException:
        database.close()
        raise
    return PostgresRecords(database, environment)

"""State in PostgreSQL: one row per environment (lineage, serial, checksum), one per resource, and a journal.

The same semantics as the local files: each ``record`` is one journal row,
durable when it returns; ``read`` folds the journal over the committed
state; ``commit`` applies it in one transaction, bumping the serial only if
the content changed. The checksum is that of the state's canonical text, as
``state.json`` carries it, so a row edited by hand is noticed.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Callable

import psycopg
from psycopg import sql

from planner.adapters.records.journal import JournalChange, fold
from planner.adapters.records.pg.database import Database
from planner.model.errors import StateError
from planner.model.state import FORMAT_VERSION, AuditHead, ResourceState, State


class PostgresStateStore:
    def __init__(self, database: Database, environment: str, *, lineage: str | None = None) -> None:
        self.db = database
        self.environment = environment
        self.warnings: list[str] = []
        self.tampered: str | None = None
        self._lineage = lineage

    def __repr__(self) -> str:
        return f"PostgresStateStore({self.db.target.describe()}, environment={self.environment!r})"

    # --- reading ---------------------------------------------------------

    def read(self) -> State | None:
        with self.db.transaction() as cursor:
            persisted, changes = self._load(cursor)
        return fold(persisted, changes)

    def committed(self) -> State | None:
        """The state as last committed, without the journal of a run that did not finish."""
        with self.db.transaction() as cursor:
            return self._load(cursor)[0]

    def _load(self, cursor: psycopg.Cursor[Any]) -> tuple[State | None, list[JournalChange]]:
        cursor.execute(
            sql.SQL("SELECT lineage, serial, format_version, tool_version, checksum, audit_head FROM {} WHERE environment = %s").format(self.db.table("states")),
            (self.environment,),
        )
        row = cursor.fetchone()
        persisted = None
        if row is not None:
            lineage, serial, format_version, tool_version, checksum, audit_head = row
            if format_version > FORMAT_VERSION:
                raise StateError(
                    f"the state of {self.environment} in {self.db.target.describe()} has format_version {format_version}, written by a newer llmplan ({tool_version})",
                    hint="upgrade llmplan; the state was left untouched",
                )
            cursor.execute(sql.SQL("SELECT resource FROM {} WHERE environment = %s ORDER BY address").format(self.db.table("resources")), (self.environment,))
            resources = {}
            for (text,) in cursor.fetchall():
                resource = ResourceState._unchecked(json.loads(text), owned=True)
                resources[resource.address] = resource
            head = AuditHead.from_dict(json.loads(audit_head)) if audit_head else None
            persisted = State(lineage, int(serial), resources, int(format_version), tool_version, head)
            if persisted.checksum() != checksum:
                self.tampered = f"the state of {self.environment} in {self.db.target.describe()} was edited outside llmplan: its checksum does not match its content"
                persisted = State.from_dict(persisted.to_dict(), source=f"the state of {self.environment} in {self.db.target.describe()}")
        cursor.execute(sql.SQL("SELECT seq, change FROM {} WHERE environment = %s ORDER BY seq").format(self.db.table("journal")), (self.environment,))
        changes = [JournalChange.from_line(json.loads(text), source=f"journal row {seq} of {self.environment}") for seq, text in cursor.fetchall()]
        lineage = persisted.lineage if persisted is not None else (changes[0].lineage if changes else None)
        if lineage is not None:
            self._check_lineage(lineage)
            self._lineage = lineage
        for change in changes:
            if change.lineage != lineage:
                raise StateError(f"the journal of {self.environment} holds a change of lineage {change.lineage}, but the state is lineage {lineage}")
        return persisted, changes

    def _check_lineage(self, found: str) -> None:
        if self._lineage is not None and found != self._lineage:
            raise StateError(
                f"the state of {self.environment} in {self.db.target.describe()} belongs to lineage {found}, but lineage {self._lineage} was expected: "
                "it was replaced; refusing to use it",
                hint="check --env and the state block of environment.yaml; nothing was overwritten",
            )

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    # --- writing ---------------------------------------------------------

    def record(self, resource: ResourceState) -> None:
        with self.db.transaction() as cursor:
            self.record_in(cursor, resource)

    def forget(self, address: str) -> None:
        with self.db.transaction() as cursor:
            self.forget_in(cursor, address)

    def record_in(self, cursor: psycopg.Cursor[Any], resource: ResourceState) -> None:
        """Part of a caller's transaction (the unit of work)."""
        ResourceState.from_dict(resource._json_view(), source=f"resource {resource.address!r}")
        self._journal(cursor, JournalChange(self._current_lineage(cursor), resource.address, resource))

    def forget_in(self, cursor: psycopg.Cursor[Any], address: str) -> None:
        self._journal(cursor, JournalChange(self._current_lineage(cursor), address, None))

    def _journal(self, cursor: psycopg.Cursor[Any], change: JournalChange) -> None:
        cursor.execute(sql.SQL("INSERT INTO {} (environment, change) VALUES (%s, %s)").format(self.db.table("journal")), (self.environment, change.to_line()))

    def _current_lineage(self, cursor: psycopg.Cursor[Any]) -> str:
        if self._lineage is None:
            self._load(cursor)  # adopts the stored lineage, or refuses another one
        if self._lineage is None:
            self._lineage = str(uuid.uuid4())  # the first write of a new environment creates it
        return self._lineage

    def commit(self, vouch: Callable[[State], AuditHead] | None = None, *, rewrite: bool = False) -> State:
        """One transaction: the state and, with ``vouch``, the audit entry that vouches for it commit together."""
        with self.db.transaction() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"llmplan state {self.db.target.schema} {self.environment}",))
            persisted, changes = self._load(cursor)
            state = fold(persisted, changes) or State.empty(self._current_lineage(cursor))
            if state is not persisted or rewrite:
                if vouch is not None:
                    state = state.vouched_by(vouch(state))
                self._write(cursor, persisted, state, {change.address for change in changes})
                self.tampered = None
            cursor.execute(sql.SQL("DELETE FROM {} WHERE environment = %s").format(self.db.table("journal")), (self.environment,))
        self._lineage = state.lineage
        return state

    def _write(self, cursor: psycopg.Cursor[Any], persisted: State | None, state: State, touched: set[str]) -> None:
        """Only the touched resources are written: O(changes), whatever the size of the state."""
        resources = self.db.table("resources")
        addresses = sorted(touched) if persisted is not None else list(state.resources)
        gone = [(self.environment, address) for address in addresses if address not in state.resources]
        kept = [(self.environment, address, state.resources[address].content_key) for address in addresses if address in state.resources]
        # executemany pipelines the statements: one round trip for a thousand rows, not a thousand
        if gone:
            cursor.executemany(sql.SQL("DELETE FROM {} WHERE environment = %s AND address = %s").format(resources), gone)
        if kept:
            cursor.executemany(
                sql.SQL("INSERT INTO {} (environment, address, resource) VALUES (%s, %s, %s) ON CONFLICT (environment, address) DO UPDATE SET resource = EXCLUDED.resource").format(resources),
                kept,
            )
        cursor.execute(
            sql.SQL(
                "INSERT INTO {} (environment, lineage, serial, format_version, tool_version, checksum, audit_head) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (environment) DO UPDATE SET lineage = EXCLUDED.lineage, serial = EXCLUDED.serial, "
                "format_version = EXCLUDED.format_version, tool_version = EXCLUDED.tool_version, checksum = EXCLUDED.checksum, audit_head = EXCLUDED.audit_head"
            ).format(self.db.table("states")),
            (self.environment, state.lineage, state.serial, state.format_version, state.tool_version, state.checksum(),
             json.dumps(state.audit_head.to_dict()) if state.audit_head else None),
        )

    def replace(self, state: State) -> None:
        """Write ``state`` as it is (lineage and serial kept): how ``state migrate`` brings a copy here."""
        with self.db.transaction() as cursor:
            cursor.execute(sql.SQL("DELETE FROM {} WHERE environment = %s").format(self.db.table("resources")), (self.environment,))
            cursor.execute(sql.SQL("DELETE FROM {} WHERE environment = %s").format(self.db.table("journal")), (self.environment,))
            self._write(cursor, None, state, set(state.resources))
        self._lineage = state.lineage

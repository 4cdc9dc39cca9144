"""State in PostgreSQL: one row per environment (lineage, serial, checksum), one per resource, and a journal.

The same semantics as the local files: each recorded change is a journal
row, written in its unit of work's transaction; ``read`` folds the journal
over the committed state; the commit applies it in one transaction, bumping
the serial only if the content changed (:class:`~planner.adapters.records.pg.PostgresRecords`).
The checksum is that of the state's canonical text, as ``state.json``
carries it, so a row edited by hand is noticed.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
from psycopg import sql

from planner.adapters.records.interfaces import StateSnapshot
from planner.adapters.records.journal import JournalChange, fold
from planner.adapters.records.pg.database import Database
from planner.model.errors import StateError
from planner.model.state import FORMAT_VERSION, AuditHead, ResourceState, State


class PostgresStateReader:
    """The state of one environment in the database, as committed now plus its journal rows."""

    def __init__(self, database: Database, environment: str, *, lineage: str | None = None) -> None:
        self.db = database
        self.environment = environment
        self._lineage = lineage

    def __repr__(self) -> str:
        return f"PostgresStateStore({self.db.target.describe()}, environment={self.environment!r})"

    # --- reading ---------------------------------------------------------

    def read(self) -> StateSnapshot:
        with self.db.transaction() as cursor:
            persisted, tampered, changes = self.load(cursor)
        return StateSnapshot(fold(persisted, changes, environment=self.environment), persisted, tampered)

    def load(self, cursor: psycopg.Cursor[Any]) -> tuple[State | None, str | None, list[JournalChange]]:
        """The committed state, why it no longer matches its checksum (or None), and the journal, in ``cursor``'s transaction."""
        cursor.execute(
            sql.SQL("SELECT lineage, serial, format_version, tool_version, checksum, audit_head FROM {} WHERE environment = %s").format(self.db.table("states")),
            (self.environment,),
        )
        row = cursor.fetchone()
        persisted = None
        tampered = None
        if row is not None:
            lineage, serial, format_version, tool_version, checksum, audit_head = row
            owner = json.loads(audit_head).get("environment") if audit_head else None
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
            persisted = State(lineage, int(serial), resources, int(format_version), tool_version, head, owner)
            if persisted.checksum() != checksum:
                tampered = f"the state of {self.environment} in {self.db.target.describe()} was edited outside llmplan: its checksum does not match its content"
                persisted = State.from_dict(persisted.to_dict(), source=f"the state of {self.environment} in {self.db.target.describe()}")
        cursor.execute(sql.SQL("SELECT seq, change FROM {} WHERE environment = %s ORDER BY seq").format(self.db.table("journal")), (self.environment,))
        changes = [JournalChange.from_dict(json.loads(text), source=f"journal row {seq} of {self.environment}") for seq, text in cursor.fetchall()]
        lineage = persisted.lineage if persisted is not None else (changes[0].lineage if changes else None)
        if lineage is not None:
            self._check_lineage(lineage)
            self._lineage = lineage
        for change in changes:
            if change.lineage != lineage:
                raise StateError(f"the journal of {self.environment} holds a change of lineage {change.lineage}, but the state is lineage {lineage}")
        return persisted, tampered, changes

    def _check_lineage(self, found: str) -> None:
        if self._lineage is not None and found != self._lineage:
            raise StateError(
                f"the state of {self.environment} in {self.db.target.describe()} belongs to lineage {found}, but lineage {self._lineage} was expected: "
                "it was replaced; refusing to use it",
                hint="check --env and the state block of environment.yaml; nothing was overwritten",
            )

    def current_lineage(self, cursor: psycopg.Cursor[Any]) -> str:
        """The stored lineage (adopted), or a new one for an environment never written."""
        if self._lineage is None:
            self.load(cursor)  # adopts the stored lineage, or refuses another one
        if self._lineage is None:
            self._lineage = str(uuid.uuid4())  # the first write of a new environment creates it
        return self._lineage

    def adopt_none(self) -> None:
        """Forget the lineage adopted: the environment's records were set aside."""
        self._lineage = None

    def journal(self, cursor: psycopg.Cursor[Any], change: JournalChange) -> None:
        """One journal row, in ``cursor``'s transaction (a unit of work)."""
        cursor.execute(sql.SQL("INSERT INTO {} (environment, change) VALUES (%s, %s)").format(self.db.table("journal")), (self.environment, change.to_line()))

    def write(self, cursor: psycopg.Cursor[Any], persisted: State | None, state: State, touched: set[str]) -> None:
        """The state's rows, in ``cursor``'s transaction; only the touched resources are written: O(changes), whatever the size of the state."""
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
        head = {**state.audit_head.to_dict(), "environment": state.environment} if state.audit_head else None
        cursor.execute(
            sql.SQL(
                "INSERT INTO {} (environment, lineage, serial, format_version, tool_version, checksum, audit_head) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (environment) DO UPDATE SET lineage = EXCLUDED.lineage, serial = EXCLUDED.serial, "
                "format_version = EXCLUDED.format_version, tool_version = EXCLUDED.tool_version, checksum = EXCLUDED.checksum, audit_head = EXCLUDED.audit_head"
            ).format(self.db.table("states")),
            (self.environment, state.lineage, state.serial, state.format_version, state.tool_version, state.checksum(), json.dumps(head) if head else None),
        )
        cursor.execute(sql.SQL("DELETE FROM {} WHERE environment = %s").format(self.db.table("journal")), (self.environment,))
        self._lineage = state.lineage

"""The PostgreSQL backend: a team's CI runners and laptops share one state, lock and audit trail.

Tables live in one schema (``state.schema``, default ``llmplan``), created
on first use through migrations recorded in ``schema_version``; several
environments share them, keyed by name. Every landed change is one
transaction: its journal row, its audit entry and its outbox event commit
together or not at all. Needs ``pip install 'llmplan[postgres]'`` (psycopg 3).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from psycopg import sql

from planner.configuration import canonical_json
from planner.environment import StateSettings
from planner.records.interfaces import Recorded, RecordedChange
from planner.records.pg.audit import PostgresAuditStore
from planner.records.pg.database import Database, dsn_from, target_of
from planner.records.pg.lock import PostgresLocker
from planner.records.pg.outbox import PostgresOutbox
from planner.records.pg.state import PostgresStateStore


class PostgresRecords:
    """The four stores over one database connection, and the unit of work as one transaction."""

    def __init__(self, database: Database, environment: str) -> None:
        self.db = database
        self.environment = environment
        self.name = f"{database.target.describe()}, environment {environment}"
        self.state = PostgresStateStore(database, environment)
        self.locker = PostgresLocker(database, environment)
        self.audit = PostgresAuditStore(database, environment)
        self.outbox = PostgresOutbox(database, environment)

    def __repr__(self) -> str:
        return f"PostgresRecords({self.name!r})"

    def record(self, change: RecordedChange) -> Recorded:
        def work(cursor: Any) -> Recorded:
            if change.resource is not None:
                self.state.record_in(cursor, change.resource)
            elif change.forget is not None:
                self.state.forget_in(cursor, change.forget)
            entry = self.audit.append_in(cursor, change.audit_fields)
            event = change.event_for(entry) if change.event_for is not None else None
            if event is not None:
                self.outbox.enqueue_in(cursor, event)
            return Recorded(entry, event)

        recorded: Recorded = self.audit.in_transaction(work)
        return recorded

    def remember_drift(self, result: Mapping[str, Any]) -> None:
        with self.db.transaction() as cursor:
            cursor.execute(
                sql.SQL("INSERT INTO {} (environment, result) VALUES (%s, %s) ON CONFLICT (environment) DO UPDATE SET result = EXCLUDED.result").format(self.db.table("drift_results")),
                (self.environment, canonical_json(result)),
            )

    def last_drift(self) -> dict[str, Any] | None:
        with self.db.transaction() as cursor:
            cursor.execute(sql.SQL("SELECT result FROM {} WHERE environment = %s").format(self.db.table("drift_results")), (self.environment,))
            row = cursor.fetchone()
        result = json.loads(row[0]) if row else None
        return result if isinstance(result, dict) else None

    def close(self) -> None:
        self.db.close()


def open_postgres_records(environment: str, settings: StateSettings, *, environ: Mapping[str, str] | None = None) -> PostgresRecords:
    """Connect (naming host and port, never the password, if that fails), migrate, and open."""
    import os

    dsn = dsn_from(os.environ if environ is None else environ, settings.dsn_env)
    database = Database(dsn, target_of(dsn, settings.schema))
    try:
        database.migrate()
    except BaseException:
        database.close()
        raise
    return PostgresRecords(database, environment)

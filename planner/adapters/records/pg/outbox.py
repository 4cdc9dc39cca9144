"""The governance outbox in PostgreSQL: one row per event, marked when delivered, removed by compact."""

from __future__ import annotations

import json
from typing import Any, Mapping

import psycopg
from psycopg import sql

from planner.adapters.records.pg.database import Database
from planner.model.configuration import canonical_json


class PostgresOutbox:
    def __init__(self, database: Database, environment: str) -> None:
        self.db = database
        self.environment = environment

    def __repr__(self) -> str:
        return f"PostgresOutbox({self.db.target.describe()}, environment={self.environment!r})"

    def enqueue_in(self, cursor: psycopg.Cursor[Any], event: Mapping[str, Any]) -> None:
        """An event, in a unit of work's transaction."""
        cursor.execute(
            sql.SQL("INSERT INTO {} (environment, event_id, event) VALUES (%s, %s, %s)").format(self.db.table("outbox")),
            (self.environment, str(event.get("event_id", "")), canonical_json(dict(event))),
        )

    def pending(self) -> list[dict[str, Any]]:
        with self.db.transaction() as cursor:
            cursor.execute(
                sql.SQL("SELECT event_id, event FROM {} WHERE environment = %s AND NOT delivered ORDER BY seq").format(self.db.table("outbox")),
                (self.environment,),
            )
            rows = cursor.fetchall()
        seen: set[str] = set()
        events = []
        for event_id, text in rows:
            if event_id in seen:
                continue
            seen.add(event_id)
            events.append(json.loads(text))
        return events

    def queued_ids(self) -> set[str]:
        with self.db.transaction() as cursor:
            cursor.execute(sql.SQL("SELECT DISTINCT event_id FROM {} WHERE environment = %s").format(self.db.table("outbox")), (self.environment,))
            return {str(row[0]) for row in cursor.fetchall()}

    def mark_delivered(self, event_id: str) -> None:
        with self.db.transaction() as cursor:
            cursor.execute(sql.SQL("UPDATE {} SET delivered = true WHERE environment = %s AND event_id = %s").format(self.db.table("outbox")), (self.environment, event_id))

    def compact(self) -> None:
        with self.db.transaction() as cursor:
            cursor.execute(sql.SQL("DELETE FROM {} WHERE environment = %s AND delivered").format(self.db.table("outbox")), (self.environment,))

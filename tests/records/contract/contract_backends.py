"""What the contract suite needs of a backend beyond its interfaces: a second handle (as another
process or checkout opens it), a child process that opens it, and ways to reach behind the
interfaces to tamper with what is stored, or to break a lock as the world breaks them.

One harness per backend, each with the same methods: the tests never ask which backend they run on.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.adapters.records import open_records
from planner.adapters.records.interfaces import Records
from planner.model.settings import StateSettings
from planner.model.state import State
from tests.pg_server import PostgresServer
from tests.records.records_helpers import MODEL_IDS, make_resource, update_fields

__all__ = ["BACKENDS", "OPEN_IN_CHILD", "Backend", "LocalBackend", "PostgresBackend", "MODEL_IDS", "make_resource", "update_fields", "until_freed"]

BACKENDS = ["local", "postgres"]
ENVIRONMENT = "dev"

# Opens the records named by argv[1] (a JSON spec) in a child process; the DSN comes from its environment.
OPEN_IN_CHILD = """
import json, sys
from pathlib import Path
from planner.model.settings import StateSettings
from planner.adapters.records import open_records
spec = json.loads(sys.argv[1])
records = open_records(spec["environment"], Path(spec["root"]), StateSettings(**spec["settings"]))
"""


@dataclass
class Backend:
    root: Path
    settings: StateSettings
    environ: dict[str, str]
    opened: list[Records] = field(default_factory=list)

    def open(self, environment: str = ENVIRONMENT) -> Records:
        """A new handle on the same environment's records, as another process or checkout would open them."""
        records = open_records(environment, self.root, self.settings, environ=self.environ)
        self.opened.append(records)
        return records

    def child_spec(self) -> str:
        return json.dumps({"environment": ENVIRONMENT, "root": str(self.root), "settings": self.settings.__dict__})

    def child_environ(self) -> dict[str, str]:
        return {**os.environ, **self.environ}

    # --- reaching behind the interfaces (each backend its own way) ---------------------------

    def audit_texts(self) -> list[str]:
        raise NotImplementedError

    def rewrite_audit(self, texts: list[str]) -> None:
        """Replace the stored entries by ``texts`` (one entry each), leaving every other record as it is."""
        raise NotImplementedError

    def replace_lineage(self) -> str:
        """Overwrite the stored state by one of another lineage (as if another environment's state were put here)."""
        raise NotImplementedError

    def copy_records(self, source: str, target: str) -> None:
        """Put environment ``source``'s records where ``target``'s belong, as a copy by hand would."""
        raise NotImplementedError

    def break_lock(self) -> None:
        """End the lock behind its holder's back, as the world does (a session terminated, a lock file removed)."""
        raise NotImplementedError


@dataclass
class LocalBackend(Backend):
    def folder(self, environment: str = ENVIRONMENT) -> Path:
        return self.root / "state" / environment

    def audit_texts(self) -> list[str]:
        path = self.folder() / "audit.jsonl"
        return path.read_text(encoding="utf-8").splitlines(keepends=True) if path.exists() else []

    def rewrite_audit(self, texts: list[str]) -> None:
        (self.folder() / "audit.jsonl").write_text("".join(texts), encoding="utf-8")

    def replace_lineage(self) -> str:
        other = State(str(uuid.uuid4()), 7, {})
        (self.folder() / "state.json").write_text(other.to_json(), encoding="utf-8")
        return other.lineage

    def copy_records(self, source: str, target: str) -> None:
        shutil.rmtree(self.folder(target), ignore_errors=True)
        shutil.copytree(self.folder(source), self.folder(target))

    def break_lock(self) -> None:
        (self.folder() / ".lock").unlink()  # the holder's flock now holds a file nobody else opens


@dataclass
class PostgresBackend(Backend):
    server: PostgresServer | None = None

    def audit_texts(self) -> list[str]:
        rows = self._sql("SELECT entry FROM {s}.audit WHERE environment = %s ORDER BY seq", (ENVIRONMENT,))
        return [row[0] + "\n" for row in rows]

    def rewrite_audit(self, texts: list[str]) -> None:
        self._sql("DELETE FROM {s}.audit WHERE environment = %s", (ENVIRONMENT,))
        for number, text in enumerate(texts, start=1):
            self._sql("INSERT INTO {s}.audit (environment, seq, entry_hash, entry) VALUES (%s, %s, %s, %s)", (ENVIRONMENT, number, _claimed_hash(text), text.rstrip("\n")))

    def replace_lineage(self) -> str:
        other = State(str(uuid.uuid4()), 7, {})
        self._sql("UPDATE {s}.states SET lineage = %s, serial = 7, checksum = %s WHERE environment = %s", (other.lineage, other.checksum(), ENVIRONMENT))
        self._sql("DELETE FROM {s}.resources WHERE environment = %s", (ENVIRONMENT,))
        return other.lineage

    def copy_records(self, source: str, target: str) -> None:
        for table in ("states", "resources", "journal", "audit", "audit_heads", "audit_checkpoints", "outbox"):
            columns = [row[0] for row in self._sql("SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s AND column_name <> 'environment'", (self.settings.schema, table))]
            listed = ", ".join(columns)
            self._sql(f"DELETE FROM {{s}}.{table} WHERE environment = %s", (target,))
            self._sql(f"INSERT INTO {{s}}.{table} (environment, {listed}) SELECT %s, {listed} FROM {{s}}.{table} WHERE environment = %s", (target, source))

    def break_lock(self) -> None:
        sessions = self._sql("SELECT backend_pid FROM {s}.locks WHERE environment = %s", (ENVIRONMENT,))
        for (pid,) in sessions:
            self._sql("SELECT pg_terminate_backend(%s)", (pid,))

    def _sql(self, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        import psycopg
        from psycopg import sql

        assert self.server is not None
        with psycopg.connect(self.server.dsn, autocommit=True) as connection:
            cursor = connection.execute(sql.SQL(statement).format(s=sql.Identifier(self.settings.schema)), params)
            return cursor.fetchall() if cursor.description else []


def until_freed(records: Records, timeout: float = 30.0) -> None:
    """Return once nobody holds the lock. After a SIGKILL the OS frees a file lock at once,
    while a database ends the dead client's session a moment later, when it sees the
    socket close: this waits for that condition (bounded), never for a fixed time."""
    deadline = time.monotonic() + timeout
    while records.locker.holder() is not None:
        if time.monotonic() > deadline:
            raise AssertionError(f"the lock was still held {timeout} s after its holder was killed")
        time.sleep(0.01)


def _claimed_hash(text: str) -> str:
    try:
        return str(json.loads(text).get("entry_hash", ""))
    except (ValueError, AttributeError):
        return ""

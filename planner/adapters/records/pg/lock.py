"""The lock of an environment in PostgreSQL: a session advisory lock on a connection of its own, and its fencing token.

``pg_try_advisory_lock`` is taken on a dedicated connection held for the
whole command, so a killed process (or a lost network) frees it with its
session. A row in ``locks`` names the holder (who, host, pid, CI run) and
its session's backend pid; ``pg_locks`` is the truth about whether that
session still holds the lock.

A session can end without its holder noticing (``pg_terminate_backend``,
``idle_session_timeout``, a failover, a pooler); the next holder then gets
the lock. So each acquisition takes the next token in ``fences``, and every
write transaction starts with ``llmplan_fence``, which refuses a token that
is no longer the current one: the old holder's next write fails.
Transaction pooling (PgBouncer's ``pool_mode = transaction``) cannot keep a
session lock at all: the lock is taken on a connection that may serve
someone else's next transaction; :meth:`PostgresLocker.lock` checks the
session still holds it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import psycopg
from psycopg import sql

from planner.adapters.identity import new_lock_info
from planner.adapters.records.interfaces import Lease
from planner.adapters.records.pg.connection import connect, unavailable
from planner.adapters.records.pg.database import Database
from planner.adapters.records.pg.watch import ConnectionWatch
from planner.adapters.waiting import announce_wait
from planner.model.clock import utc_now
from planner.model.errors import LockHeld, StateError
from planner.model.state import LockInfo


def advisory_key(schema: str, environment: str) -> int:
    """A stable signed 64-bit key for one environment of one schema."""
    digest = hashlib.sha256(f"llmplan lock {schema} {environment}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True)
class _Held:
    """A held lock's own session, and the watch that bounds its exchanges."""

    connection: psycopg.Connection[Any]
    watch: ConnectionWatch

    def close(self) -> None:
        self.watch.close()
        try:
            self.connection.close()
        except psycopg.Error:
            pass


class PostgresLocker:
    def __init__(
        self,
        database: Database,
        environment: str,
        *,
        poll_interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = database
        self.environment = environment
        self.key = advisory_key(database.target.schema, environment)
        self._poll_interval = poll_interval
        self._clock = clock
        self._sleep = sleep
        self._held: dict[str, _Held] = {}
        self._mutex = threading.Lock()

    @property
    def where(self) -> str:
        return f"{self.db.target.describe()}, environment {self.environment}"

    def lock(self, operation: str, *, timeout: float = 0.0) -> Lease:
        self.db.require_writable()
        connection = connect(self.db.dsn, self.db.target, autocommit=True, timeout=self.db.timeout)
        watch = self.db.watch_of(connection, " (the lock's session)")
        held = _Held(connection, watch)
        try:
            deadline = self._clock() + max(timeout, 0.0)
            announced = False
            while not self._try(held):
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise self._lock_held()
                if not announced:
                    holder = self.holder()
                    announce_wait(remaining, f"the lock of environment {self.environment}" + (f", held by {holder.describe()}" if holder else ""))
                    announced = True
                self._sleep(min(self._poll_interval, remaining))
            # the next token; the UPDATE waits for a write of the previous holder that passed its check to commit
            with watch.exchange():
                row, holds = self._take_token(connection, operation)
            if not holds:
                raise StateError(
                    f"the lock of environment {self.environment} was taken on a connection that no longer holds it: "
                    "is the database behind a connection pooler in transaction mode?",
                    hint="connect llmplan to PostgreSQL directly, or through a pooler in session mode: a session lock needs its session",
                )
        except psycopg.Error as error:
            held.close()
            raise unavailable(error, self.db.dsn, self.db.target) from None
        except BaseException:
            held.close()
            raise
        token, info = row
        with self._mutex:
            self._held[info.id] = held
        return Lease(info, token)

    def _take_token(self, connection: psycopg.Connection[Any], operation: str) -> tuple[tuple[int, LockInfo], bool]:
        """The next fencing token and the row naming this holder; and whether this session holds the advisory lock."""
        row = connection.execute(
            sql.SQL("INSERT INTO {} (environment, token) VALUES (%s, 1) ON CONFLICT (environment) DO UPDATE SET token = {}.token + 1 RETURNING token").format(
                self.db.table("fences"), self.db.table("fences")
            ),
            (self.environment,),
        ).fetchone()
        assert row is not None
        info = dataclasses.replace(new_lock_info(operation, where=self.where, now=utc_now()), fence=int(row[0]))
        connection.execute(
            sql.SQL(
                "INSERT INTO {} (environment, lock_id, backend_pid, info) VALUES (%s, %s, pg_backend_pid(), %s) "
                "ON CONFLICT (environment) DO UPDATE SET lock_id = EXCLUDED.lock_id, backend_pid = EXCLUDED.backend_pid, info = EXCLUDED.info"
            ).format(self.db.table("locks")),
            (self.environment, info.id, json.dumps(info.to_dict())),
        )
        return (int(row[0]), info), self._holds(connection)

    def lost(self, lease: Lease) -> str | None:
        """Why ``lease`` no longer holds the lock (its session ended, another holder took the next token), or None."""
        with self._mutex:
            held = self._held.get(lease.info.id)
        if held is None:
            return f"lock {lease.info.id} of environment {self.environment} is not held by this process"
        try:
            with self._mutex, held.watch.exchange():
                holds = self._holds(held.connection)
        except psycopg.Error:
            holds = False
        if not holds:
            holder = self._quietly(self.holder)
            now = f"; it is held now by {holder.describe()}" if holder is not None else ""
            return f"the database session holding the lock of environment {self.environment} ended (ended by an administrator, a timeout or a failover){now}"
        current = self._quietly(self._current_token)
        if current is not None and current != lease.token:
            return lease.taken_over(self.environment, current, self._quietly(self.holder)).message
        return None

    def _holds(self, connection: psycopg.Connection[Any]) -> bool:
        """Whether the session of ``connection`` holds the environment's advisory lock now."""
        unsigned = self.key & 0xFFFFFFFFFFFFFFFF
        row = connection.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid() AND classid = %s AND objid = %s AND objsubid = 1",
            (unsigned >> 32, unsigned & 0xFFFFFFFF),
        ).fetchone()
        return bool(row and row[0])

    def _current_token(self) -> int | None:
        with self.db.transaction() as cursor:
            cursor.execute(sql.SQL("SELECT token FROM {} WHERE environment = %s").format(self.db.table("fences")), (self.environment,))
            row = cursor.fetchone()
        return int(row[0]) if row else None

    @staticmethod
    def _quietly(read: Callable[[], Any]) -> Any:
        try:
            return read()
        except StateError:
            return None

    def _try(self, held: _Held) -> bool:
        with held.watch.exchange():
            row = held.connection.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        return bool(row and row[0])

    def _lock_held(self) -> LockHeld:
        holder = self.holder()
        if holder is None:
            return LockHeld(f"state of environment {self.environment} is locked by another session of {self.db.target.describe()}", hint="wait for it to finish and retry")
        return LockHeld(
            f"state of environment {self.environment} is locked by {holder.describe()}",
            holder.to_dict(),
            hint=f"wait for it to finish (or pass --lock-timeout); if it is stuck, stop pid {holder.pid} on {holder.host or 'its host'}: the database releases the lock when its session ends",
        )

    def _live_session(self, cursor: psycopg.Cursor[Any]) -> int | None:
        """The backend pid of the session holding the advisory lock, or None."""
        unsigned = self.key & 0xFFFFFFFFFFFFFFFF
        cursor.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid = %s AND objid = %s AND objsubid = 1",
            (unsigned >> 32, unsigned & 0xFFFFFFFF),
        )
        row = cursor.fetchone()
        return int(row[0]) if row else None

    def holder(self) -> LockInfo | None:
        with self.db.transaction() as cursor:
            session = self._live_session(cursor)
            if session is None:
                return None
            cursor.execute(sql.SQL("SELECT backend_pid, info FROM {} WHERE environment = %s").format(self.db.table("locks")), (self.environment,))
            row = cursor.fetchone()
        if row is not None and int(row[0]) == session:
            return LockInfo.from_dict(json.loads(row[1]), where=self.where)
        return LockInfo(id="unknown", operation="unknown", who=f"database session {session}", pid=0, created="unknown", where=self.where)

    def unlock(self, lease: Lease) -> None:
        lock = lease.info
        with self._mutex:
            held = self._held.pop(lock.id, None)
        if held is None:
            raise StateError(f"lock {lock.id} on environment {self.environment} is not held by this process")
        try:
            with held.watch.exchange():
                held.connection.execute(sql.SQL("DELETE FROM {} WHERE environment = %s AND lock_id = %s").format(self.db.table("locks")), (self.environment, lock.id))
                held.connection.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        except (psycopg.Error, StateError):
            pass  # the session is gone (or cut), and its lock with it
        finally:
            held.close()

    def force_unlock(self, lock_id: str) -> None:
        """Remove the description of a lock whose session is gone; refused while it lives or for a wrong id."""
        with self.db.transaction() as cursor:
            cursor.execute(sql.SQL("SELECT info FROM {} WHERE environment = %s FOR UPDATE").format(self.db.table("locks")), (self.environment,))
            row = cursor.fetchone()
            if row is None:
                raise StateError(f"state of environment {self.environment} has no lock to remove")
            current = LockInfo.from_dict(json.loads(row[0]), where=self.where)
            if current.id != lock_id:
                raise StateError(f"lock id {lock_id} does not match the lock of environment {self.environment} ({current.describe()})", hint="copy the id from the error that named the holder")
            session = self._live_session(cursor)
            if session is not None:
                raise StateError(
                    f"lock {lock_id} of environment {self.environment} is held by a live database session (backend pid {session}; {current.who}, pid {current.pid}); refusing to force-unlock",
                    hint="wait for it to finish, or stop that process: the database releases its lock when the session ends",
                )
            cursor.execute(sql.SQL("DELETE FROM {} WHERE environment = %s AND lock_id = %s").format(self.db.table("locks")), (self.environment, lock_id))

"""The records database: the schema's migrations, one transaction at a time, long reads streamed.

psycopg is imported here, and this module only when an environment's
``state.backend`` is ``postgres``, so other commands start as fast as
before. Connecting (and what the database's errors mean to a user) is
:mod:`planner.adapters.records.pg.connection`.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack, contextmanager, suppress
from typing import Any, Iterator

import psycopg
from psycopg import sql

from planner import __version__
from planner.adapters.records.pg.connection import Target, connect, unavailable
from planner.adapters.records.pg.watch import ConnectionWatch
from planner.adapters.waiting import Cancellation
from planner.model.errors import StateError
from planner.model.settings import DEFAULT_RECORDS_TIMEOUT

STREAM_BATCH = 5000  # rows per round trip when a long read streams
SCHEMA_VERSION = 4

# An audit row's timestamp, compared byte by byte (the "C" collation): the expression the
# audit_by_time index is built on, which a query must repeat exactly to use it.
TIMESTAMP_OF_ENTRY = """((entry::jsonb ->> 'timestamp') COLLATE "C")"""

# Each migration: the statements that bring the schema from the version before to this one.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE {schema}.states (
                environment text PRIMARY KEY,
                lineage text NOT NULL,
                serial bigint NOT NULL,
                format_version integer NOT NULL,
                tool_version text NOT NULL,
                checksum text NOT NULL,
                audit_head text)""",
            """CREATE TABLE {schema}.resources (
                environment text NOT NULL,
                address text NOT NULL,
                resource text NOT NULL,
                PRIMARY KEY (environment, address))""",
            """CREATE TABLE {schema}.journal (
                environment text NOT NULL,
                seq bigserial,
                change text NOT NULL,
                PRIMARY KEY (environment, seq))""",
            """CREATE TABLE {schema}.audit (
                environment text NOT NULL,
                seq bigint NOT NULL,
                model_id text,
                entry_hash text NOT NULL,
                entry text NOT NULL,
                PRIMARY KEY (environment, seq))""",
            "CREATE INDEX audit_by_hash ON {schema}.audit (environment, entry_hash)",
            """CREATE TABLE {schema}.audit_heads (
                environment text PRIMARY KEY,
                entries bigint NOT NULL,
                entry_hash text NOT NULL)""",
            """CREATE TABLE {schema}.audit_checkpoints (
                environment text PRIMARY KEY,
                entries bigint NOT NULL,
                entry_hash text NOT NULL,
                unsettled_entries bigint NOT NULL)""",
            """CREATE TABLE {schema}.outbox (
                environment text NOT NULL,
                seq bigserial,
                event_id text NOT NULL,
                event text NOT NULL,
                delivered boolean NOT NULL DEFAULT false,
                PRIMARY KEY (environment, seq))""",
            """CREATE TABLE {schema}.locks (
                environment text PRIMARY KEY,
                lock_id text NOT NULL,
                backend_pid integer NOT NULL,
                info text NOT NULL)""",
        ),
    ),
    (
        2,
        (
            # fencing: each lock acquisition takes the next token; every write checks it is still the current one
            """CREATE TABLE {schema}.fences (
                environment text PRIMARY KEY,
                token bigint NOT NULL)""",
            # FOR SHARE: the next holder's UPDATE of the token waits for a write that passed the check to commit
            """CREATE FUNCTION {schema}.llmplan_fence(env text, held bigint) RETURNS void LANGUAGE plpgsql AS $$
            DECLARE current_token bigint;
            BEGIN
                SELECT token INTO current_token FROM {schema}.fences WHERE environment = env FOR SHARE;
                IF current_token IS DISTINCT FROM held THEN
                    RAISE EXCEPTION 'fencing token % is no longer current (now %)', held, current_token USING ERRCODE = 'LP001';
                END IF;
            END $$""",
        ),
    ),
    # AuditReader.entries_since (a report of the last N days) reads from a time on without the history before it
    (3, ("CREATE INDEX audit_by_time ON {schema}.audit (environment, " + TIMESTAMP_OF_ENTRY + ")",)),
    # the last drift check's result per environment (DriftMemory), for `llmplan report --offline`
    (4, ("CREATE TABLE {schema}.drift_results (environment text PRIMARY KEY, result text NOT NULL)",)),
)
FENCE_REFUSED = "LP001"  # the SQLSTATE llmplan_fence raises


class Database:
    """One connection shared by the stores of one environment; one transaction at a time.

    apply records from worker threads; each unit of work is one short
    transaction under this object's lock, so they never interleave.
    """

    def __init__(self, dsn: str, target: Target, *, timeout: float = DEFAULT_RECORDS_TIMEOUT) -> None:
        self.dsn = dsn
        self.target = target
        self.timeout = timeout
        self.schema = sql.Identifier(target.schema)
        self._mutex = threading.RLock()
        self._connection = connect(dsn, target, timeout=timeout)
        self.cancellation = Cancellation()  # cut by Ctrl-C or SIGTERM (planner.adapters.waiting.cancel_everything)
        self.watch = self.watch_of(self._connection, "")
        self._migrated = False
        self.version = 0  # the schema's version, once migrate() has looked
        self.depth = 0  # transactions open on this thread: more than one is a savepoint inside a caller's

    def watch_of(self, connection: psycopg.Connection[Any], which: str) -> ConnectionWatch:
        """The deadline and waiting line of ``connection``'s exchanges, cut with this database's cancellation."""
        return ConnectionWatch(connection, f"the records database {self.target.describe()}{which}", self.cancellation, self.timeout)

    def table(self, name: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(self.schema, sql.Identifier(name))

    @contextmanager
    def transaction(self, *, pipeline: bool = False) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor inside one transaction: committed at the end of the block, rolled back on an error.

        ``pipeline``: the statements are sent without waiting for each answer
        (one round trip for the whole transaction); only for blocks that read
        no result.
        """
        with self._mutex:
            self.depth += 1
            try:
                if self.depth > 1:  # a savepoint inside the caller's transaction, bounded with it
                    with self._connection.transaction(), self._connection.cursor() as cursor:
                        yield cursor
                    return
                with self.watch.exchange():
                    if pipeline:
                        with self._connection.pipeline(), self._connection.transaction(), self._connection.cursor() as cursor:
                            yield cursor
                        return
                    with self._connection.transaction(), self._connection.cursor() as cursor:
                        yield cursor
            except psycopg.errors.DeadlockDetected:
                raise  # the caller retries its transaction
            except psycopg.OperationalError as error:
                raise unavailable(error, self.dsn, self.target) from None
            except psycopg.InterfaceError as error:  # the connection was closed under us (a restart)
                raise unavailable(error, self.dsn, self.target) from None
            except psycopg.errors.InsufficientPrivilege as error:
                raise unavailable(error, self.dsn, self.target) from None
            finally:
                self.depth -= 1

    @contextmanager
    def streaming(self, query: sql.Composed, params: tuple[Any, ...]) -> Iterator[Iterator[tuple[Any, ...]]]:
        """Rows of ``query`` fetched in batches by a server-side cursor: constant memory for any length.

        Each step (opening, every batch, closing) is one exchange with its own
        deadline: reading a long trail takes as long as it takes, a stalled
        database does not.
        """
        with self._mutex:
            steps = ExitStack()
            try:
                with self.watch.exchange():
                    steps.enter_context(self._connection.transaction())
                    cursor = steps.enter_context(self._connection.cursor(name="llmplan_stream"))
                    cursor.execute(query, params)
                yield self._batches(cursor)
            except BaseException as error:
                with suppress(StateError, psycopg.Error), self.watch.exchange():
                    steps.__exit__(type(error), error, error.__traceback__)  # rolled back
                if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError, psycopg.errors.InsufficientPrivilege)):
                    raise unavailable(error, self.dsn, self.target) from None
                raise
            try:
                with self.watch.exchange():
                    steps.close()
            except (psycopg.OperationalError, psycopg.InterfaceError) as error:
                raise unavailable(error, self.dsn, self.target) from None

    def _batches(self, cursor: psycopg.Cursor[Any]) -> Iterator[tuple[Any, ...]]:
        while True:
            with self.watch.exchange():
                rows = cursor.fetchmany(STREAM_BATCH)
            if not rows:
                return
            yield from rows

    def migrate(self) -> None:
        """Create or upgrade the schema, once; refuse one written by a newer llmplan.

        A schema already at this version is only read (no DDL, no lock), so a
        role that may only read can plan and check drift; such a role also
        reads a schema one upgrade behind (the writer role upgrades it).
        """
        if self._migrated:
            return
        versions = self.table("schema_version")
        with self.transaction() as cursor:
            self.version = self._version(cursor, versions)[0]
        if self.version == SCHEMA_VERSION:
            self._migrated = True
            return
        try:
            with self.transaction() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('llmplan schema migration'))")
                # a schema made by an administrator for a role without CREATE on the database is used as it is
                cursor.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s", (self.target.schema,))
                if cursor.fetchone() is None:
                    cursor.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self.schema))
                cursor.execute(
                    sql.SQL("CREATE TABLE IF NOT EXISTS {} (version integer PRIMARY KEY, tool_version text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())").format(versions)
                )
                current, _ = self._version(cursor, versions)
                for version, statements in MIGRATIONS:
                    if version <= current:
                        continue
                    for statement in statements:
                        cursor.execute(sql.SQL(statement).format(schema=self.schema))
                    cursor.execute(sql.SQL("INSERT INTO {} (version, tool_version) VALUES (%s, %s)").format(versions), (version, __version__))
        except StateError:
            if self.version < 1:
                raise
            self._migrated = True  # a reader on a schema one upgrade behind: reading works, writing says what to do
            return
        self.version = SCHEMA_VERSION
        self._migrated = True

    def require_writable(self) -> None:
        """Writing needs the current schema (fencing came with version 2, the drift memory with 4)."""
        self.migrate()
        if self.version < SCHEMA_VERSION:
            raise StateError(
                f"the records in {self.target.describe()} are at schema version {self.version}; writing needs version {SCHEMA_VERSION}",
                hint="run any command that writes (apply, refresh) once with the role that owns the schema: it upgrades the schema",
            )

    def _version(self, cursor: psycopg.Cursor[Any], versions: sql.Composed) -> tuple[int, str | None]:
        """The schema's version (0 before the first migration), refused if newer than this llmplan knows."""
        cursor.execute("SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = %s AND tablename = 'schema_version'", (self.target.schema,))
        if cursor.fetchone() is None:
            return 0, None
        cursor.execute(sql.SQL("SELECT coalesce(max(version), 0), (SELECT tool_version FROM {} ORDER BY version DESC LIMIT 1) FROM {}").format(versions, versions))
        row = cursor.fetchone()
        current, writer = (int(row[0]), row[1]) if row else (0, None)
        if current > SCHEMA_VERSION:
            raise StateError(
                f"the records in {self.target.describe()} were written by a newer llmplan "
                f"(schema version {current}, by llmplan {writer}); this llmplan {__version__} knows up to version {SCHEMA_VERSION}",
                hint="upgrade llmplan; nothing was changed",
            )
        return current, writer

    def close(self) -> None:
        with self._mutex:
            self.watch.close()
            try:
                self._connection.close()
            except psycopg.Error:
                pass

"""Connecting to PostgreSQL safely, and what its errors mean to a user.

The connection string is a secret like the client secret: it comes from an
environment variable, and only its host, port, database and user ever reach
a message (:class:`Target`); :func:`scrub` takes it out of whatever libpq
said.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Mapping

import psycopg

from planner.adapters.records.pg.watch import server_limits
from planner.adapters.waiting import ANNOUNCE_AFTER_SECONDS, announce
from planner.model.errors import ConfigurationError, RecordsUnavailable, StateError
from planner.model.settings import DEFAULT_RECORDS_TIMEOUT

# psycopg warns on stderr ("error ignored terminating <psycopg.Pipeline …>") when a connection
# dies mid-pipeline; the error llmplan raises then says the same, naming the database.
logging.getLogger("psycopg").addHandler(logging.NullHandler())

CONNECT_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Target:
    """Where the records are, as a person may see it: no password."""

    host: str
    port: str
    database: str
    user: str
    schema: str

    def describe(self) -> str:
        return f"PostgreSQL {self.user}@{self.host}:{self.port}/{self.database} (schema {self.schema})"


def dsn_from(environ: Mapping[str, str], variable: str) -> str:
    dsn = environ.get(variable, "")
    if not dsn.strip():
        raise ConfigurationError(
            f"state.backend is postgres, but the environment variable {variable} holding the connection string is not set",
            hint=f"export {variable}='postgresql://USER:PASSWORD@HOST:5432/DB' (a libpq connection string), or name another variable in state.dsn_env",
        )
    return dsn


def target_of(dsn: str, schema: str) -> Target:
    try:
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        raise ConfigurationError("the PostgreSQL connection string is not valid (its text is not shown: it may hold a password)") from None
    return Target(
        host=str(parts.get("host") or parts.get("hostaddr") or "localhost"),
        port=str(parts.get("port") or "5432"),
        database=str(parts.get("dbname") or parts.get("user") or "?"),
        user=str(parts.get("user") or "?"),
        schema=schema,
    )


def scrub(text: str, dsn: str) -> str:
    """``text`` without the connection string or its password, whatever libpq put in it."""
    try:
        password = psycopg.conninfo.conninfo_to_dict(dsn).get("password")
    except psycopg.ProgrammingError:
        password = None
    for secret in (dsn, password):
        if secret:
            text = text.replace(str(secret), "***")
    return text


# TCP keepalives and tcp_user_timeout: a peer that is gone (a host down, a dropped route) is noticed
# within about 25 s even while no exchange is waiting; a peer that is there and silent is the watch's (watch.py).
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3, "tcp_user_timeout": 25_000}


def connect(dsn: str, target: Target, *, autocommit: bool = False, timeout: float = DEFAULT_RECORDS_TIMEOUT) -> psycopg.Connection[Any]:
    """A connection with llmplan's timeouts, or RecordsUnavailable naming host and port (within the connect timeout).

    The server's own limits are set for the session (not as a startup
    ``options`` parameter, which a pooler may refuse): a statement ends
    before the exchange's deadline, a wait for a row another session holds
    sooner (:func:`~planner.adapters.records.pg.watch.server_limits`).
    """
    parts = psycopg.conninfo.conninfo_to_dict(dsn)
    parts.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
    parts.setdefault("application_name", "llmplan")
    for name, value in KEEPALIVES.items():
        parts.setdefault(name, value)
    # a connect_timeout in the DSN is libpq's own limit, and the one to announce
    slow = threading.Timer(ANNOUNCE_AFTER_SECONDS, announce, args=(f"waiting for {target.describe()} to accept the connection (at most {parts['connect_timeout']} s)",))
    slow.daemon = True
    slow.start()
    try:
        connection = psycopg.connect(psycopg.conninfo.make_conninfo("", **parts), autocommit=autocommit)
        statement, lock = server_limits(timeout)
        # the server's keepalives too: a session whose client machine is gone (and the lock it holds) ends in about 25 s, not 2 hours
        connection.execute(
            "SELECT set_config('statement_timeout', %s, false), set_config('lock_timeout', %s, false), set_config('tcp_keepalives_idle', '10', false), "
            "set_config('tcp_keepalives_interval', '5', false), set_config('tcp_keepalives_count', '3', false)",
            (str(statement), str(lock)),
        )
        if not autocommit:
            connection.commit()
        return connection
    except psycopg.Error as error:
        raise unavailable(error, dsn, target) from None
    finally:
        slow.cancel()


# A read-only role (GRANT USAGE on the schema, SELECT on its tables) is enough for
# the commands that only read, such as a pull request's plan in CI.
READ_ONLY_HINT = (
    "plan, show, drift, state show and audit show/verify need only USAGE on the schema and SELECT on its tables; "
    "apply, refresh, import, governance flush, state migrate and force-unlock also need INSERT, UPDATE and DELETE "
    "(and its sequences), and the first use of a new schema creates the tables"
)


def unavailable(error: BaseException, dsn: str, target: Target) -> StateError:
    """What the database said, as an error of ours: a refused login, privilege or lock wait is not an outage."""
    text = str(error).strip()
    reason = scrub(text.splitlines()[0] if text else type(error).__name__, dsn)
    variable_hint = "the connection string (state.dsn_env, LLMPLAN_PG_DSN by default) names the role and its password"
    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        return StateError(f"the role {target.user} may not do this in {target.describe()}: {reason}", hint=READ_ONLY_HINT)
    if "password authentication failed" in text:  # PostgreSQL says the same for a role that does not exist
        return StateError(
            f"{target.describe()} refused the login of role {target.user}: password authentication failed (a wrong password, or no such role: PostgreSQL does not say which)",
            hint=f"check the role and its password: {variable_hint}",
        )
    if "authentication failed" in text:
        return StateError(f"{target.describe()} refused the login of role {target.user}: {reason}", hint=f"check the role and how it may log in (pg_hba.conf): {variable_hint}")
    if f'role "{target.user}" does not exist' in text:
        return StateError(f"{target.describe()} has no role {target.user}", hint=f"create the role (see docs/state.md, Permissions), or fix the user name: {variable_hint}")
    if f'database "{target.database}" does not exist' in text:
        return StateError(f"{target.describe()}: the database {target.database} does not exist", hint=f"create it, or fix the database name: {variable_hint}")
    if isinstance(error, psycopg.errors.LockNotAvailable):
        return StateError(
            f"the records in {target.describe()} are locked by another database session (a row it holds, for longer than lock_timeout): {reason}",
            hint="find it in pg_stat_activity (a transaction left open by hand?) and end it; nothing more was recorded, and the next run settles what this one left open",
        )
    if isinstance(error, psycopg.errors.QueryCanceled):
        return RecordsUnavailable(f"the records database {target.describe()} did not finish a statement in time (statement_timeout): {reason}")
    return RecordsUnavailable(f"the records database {target.describe()} cannot be reached: {reason}")

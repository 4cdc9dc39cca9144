"""Fixtures shared by every test folder.

``clock``: a fake monotonic clock (:class:`FakeClock`) with a ``sleep``.

``postgres``: a real PostgreSQL server on 127.0.0.1, started once for the
session by the tests themselves (``tests/pg_server.py``), for the tests of
the PostgreSQL records backend; each test uses a schema of its own. A
machine where it cannot start fails those tests; they never skip.

``sandbox``: a fresh sandbox gateway on 127.0.0.1 and an ephemeral port,
stopped after the test.  ``make_sandbox(**options)``: start sandboxes with
options of ``planner.sandbox.start_sandbox`` (rate limit, faults, data
file…); every one is stopped after the test.  The sandbox is imported only
when a test asks for it, so the core tests never load it.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pytest

if TYPE_CHECKING:
    from planner.sandbox import RunningSandbox
    from tests.pg_server import PostgresServer


class FakeClock:
    """A monotonic clock that moves only when a test advances it or someone
    sleeps on it; records every sleep.  Tests inject it where the code takes
    ``clock`` and ``sleep``, so nothing waits for real."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(seconds, 0.0)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def fresh_llmplan_logger() -> Iterator[None]:
    """A CLI run in-process configures the ``llmplan`` logger (level, stderr
    handler, no propagation); undo it so a later test's ``caplog`` sees
    llmplan's records whatever ran before it."""
    logger = logging.getLogger("llmplan")
    saved = (logger.level, list(logger.handlers), logger.propagate)
    yield
    logger.setLevel(saved[0])
    logger.handlers[:] = saved[1]
    logger.propagate = saved[2]


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., "RunningSandbox"]]:
    from planner.sandbox import start_sandbox

    started: list[RunningSandbox] = []

    def make(**options: Any) -> "RunningSandbox":
        running = start_sandbox(**options)
        started.append(running)
        return running

    yield make
    for running in reversed(started):
        running.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., "RunningSandbox"]) -> "RunningSandbox":
    return make_sandbox()


@pytest.fixture(scope="session")
def postgres() -> Iterator["PostgresServer"]:
    """One PostgreSQL server for the whole session (started only if a test asks for it)."""
    from tests.pg_server import PostgresUnavailable, running_postgres

    try:
        context = running_postgres()
        server = context.__enter__()
    except PostgresUnavailable as missing:
        pytest.fail(f"the PostgreSQL tests need a server and none could be started: {missing}")
    try:
        yield server
    finally:
        context.__exit__(None, None, None)

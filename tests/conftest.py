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

Durations: a test that takes more than ``SLOW_SECONDS`` on a quiet machine
carries ``@pytest.mark.slow(reason="...")``, one line saying why it cannot be
shorter (a few shorter scenarios carry it too, to start early).  Slow tests
are collected first, so that with ``-n`` (``make test``) they start at once
rather than finishing last.  The end of the run lists every
test over the limit with its reason: a report, never a failure, because a
busy machine makes any test slow (the load average is printed beside it).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pytest

if TYPE_CHECKING:
    from planner.sandbox import RunningSandbox
    from tests.pg_server import PostgresServer


SLOW_SECONDS = 10.0

# The test processes, and every process they start (llmplan, checkov,
# schemathesis…), write the bytecode of what they import, into .venv and the
# __pycache__ folders Git ignores: `make test` installs the test extra without
# compiling its 15,000 files, and with PYTHONDONTWRITEBYTECODE set (many CI
# images) each process would compile the same modules again.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: twice the cores (at most 8).  Much of the suite waits on child
    processes and sockets; on 2 cores, 4 workers ran it fastest (README, "Development")."""
    return min(2 * cores(), 8)


def pytest_configure(config: pytest.Config) -> None:
    """With ``-n``, hand out tests one at a time (each worker still holds two).  xdist's
    default starts each worker on a run of consecutive tests, a quarter of its share:
    with the slow tests first, the first worker got every one of them and ran them
    one after another while the others finished and waited (152 s instead of 140)."""
    if getattr(config.option, "maxschedchunk", "no xdist") is None:
        config.option.maxschedchunk = 1


def slow_reason(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("slow")
    if marker is None:
        return None
    reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
    if not reason:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.slow needs a reason: slow(reason=\"why it takes this long\")")
    return str(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first (a stable sort: the rest keep their order)."""
    for item in items:
        slow_reason(item)
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Carry a slow test's reason on its report (a worker's reports reach the controller, its items do not)."""
    outcome = yield
    reason = slow_reason(item)
    if reason is not None:
        outcome.get_result().user_properties.append(("slow", reason))


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any) -> None:
    """After ``--durations``: every test over SLOW_SECONDS (setup, call and teardown), and why."""
    seconds: dict[str, float] = defaultdict(float)
    reasons: dict[str, str] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if isinstance(report, pytest.TestReport):
                seconds[report.nodeid] += report.duration
                reasons.update((report.nodeid, value) for name, value in report.user_properties if name == "slow")
    over = sorted(((took, nodeid) for nodeid, took in seconds.items() if took > SLOW_SECONDS), reverse=True)
    if not over:
        return
    load = ", ".join(f"{figure:.1f}" for figure in os.getloadavg())
    terminalreporter.write_sep("=", f"tests over {SLOW_SECONDS:g} s (load average {load} on {cores()} cores)")
    for took, nodeid in over:
        why = reasons.get(nodeid)
        terminalreporter.write_line(f"{took:6.1f}s {nodeid}")
        terminalreporter.write_line(f"        slow: {why}" if why else "        no reason given: mark it @pytest.mark.slow(reason=...) or make it faster (if the machine was busy, compare a quiet run)")


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

"""One deadline per exchange with the records database, whatever the network does.

libpq bounds the connect (``connect_timeout``) and TCP keepalives notice a
peer that is gone, but neither ends an exchange with a peer that is there
and never answers: a proxy that stops forwarding, a host whose kernel
still acknowledges every packet. So every exchange on a connection runs
inside :meth:`ConnectionWatch.exchange`: a thread of the watch says on
stderr when an answer has taken :data:`~planner.adapters.waiting.ANNOUNCE_AFTER_SECONDS`
(a CI log that sits silent looks hung), and when the exchange's deadline
passes it shuts the connection's socket down, which ends the blocked call
at once; the caller then raises :class:`~planner.model.errors.RecordsUnavailable`
naming host and port. A cancelled command (Ctrl-C, SIGTERM) cuts the same
way, at once. Once cut, the connection is not used again: every later
exchange fails at once with the same reason, so a command that ends after
a stall does not wait out one deadline per remaining step.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from planner.adapters.waiting import ANNOUNCE_AFTER_SECONDS, Cancellation, announce
from planner.model.errors import RecordsUnavailable

POLL_SECONDS = 0.1


def server_limits(seconds: float) -> tuple[int, int]:
    """statement_timeout and lock_timeout (ms) for an exchange deadline of ``seconds``: the server,
    when it is alive, ends a statement first (a clearer error), and a wait for a row another session holds sooner."""
    return int(seconds * 800), int(min(10.0, seconds / 3) * 1000)


class ConnectionWatch:
    """The deadline and the waiting line of every exchange on one connection (one at a time)."""

    def __init__(self, connection: Any, what: str, cancellation: Cancellation, seconds: float) -> None:
        self._what = what
        self.seconds = seconds
        self._cancellation = cancellation
        # a descriptor of our own for the same socket: shutting it down ends a call blocked on the connection's
        self._socket = socket.socket(fileno=os.dup(connection.fileno()))
        self._lock = threading.Lock()
        self._busy_since: float | None = None
        self._deadline = 0.0
        self._announced = False
        self.broken: str | None = None  # why the connection was cut; it is not used again
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._forget_cancel = cancellation.on_cancel(lambda: self._cut(f"the command is stopping ({cancellation.reason})"))

    @contextmanager
    def exchange(self) -> Iterator[None]:
        """Run one exchange; RecordsUnavailable if it was cut (by its deadline or a cancel), or if an earlier one was."""
        with self._lock:
            if self.broken is not None:
                raise RecordsUnavailable(self.broken)
            self._busy_since = time.monotonic()
            self._deadline = self._busy_since + self.seconds
            self._announced = False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="llmplan-records-watch", daemon=True)
                self._thread.start()
        try:
            yield
        except Exception:
            if self.broken is not None:
                raise RecordsUnavailable(self.broken) from None
            raise
        finally:
            with self._lock:
                self._busy_since = None
        if self.broken is not None:  # cut as it ended: what it read may be incomplete
            raise RecordsUnavailable(self.broken)

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            with self._lock:
                if self._busy_since is None:
                    continue
                now = time.monotonic()
                waited = now - self._busy_since
                say = waited >= ANNOUNCE_AFTER_SECONDS and not self._announced
                self._announced = self._announced or say
                late = now >= self._deadline
                limit = self._deadline - self._busy_since
            if say:
                announce(f"waiting for {self._what} to answer ({waited:.0f} s so far; at most {limit:.0f} s)")
            if late:
                self._cut(f"{self._what} did not answer within {limit:g} s (state.timeout_seconds): it stalled, or the network to it did")

    def _cut(self, reason: str) -> None:
        with self._lock:
            if self.broken is not None:
                return
            self.broken = reason
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # closed already: nothing blocked on it

    def close(self) -> None:
        self._stop.set()
        self._forget_cancel()
        self._socket.close()

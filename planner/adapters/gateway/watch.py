"""One line when the gateway keeps llmplan waiting for an answer.

A request's wait cannot be announced in advance: connecting and reading the
answer usually take milliseconds, and only a gateway that is slow,
black-holed or gone makes them last.  So every attempt is registered while
it is out, and a watcher thread (one per client, polling twice a second)
says so once the oldest has waited a few seconds:

    waiting up to 12.0 s more for the gateway at https://api.mypurecloud.com (gateway.region us-east-1) to answer POST /oauth/token

One line per spell: nothing more is said until an answer arrives, so ten
threads stuck on the same dead gateway print one line, not ten.  The thread ends whenever no attempt is out.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Callable

from planner.adapters.waiting import ANNOUNCE_AFTER_SECONDS, announce

POLL_SECONDS = 0.5


class AnswerWatch:
    """Thread-safe; ``begin``/``end`` around each attempt, ``close`` with the client."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        say: Callable[[str], None] = announce,
        after: float = ANNOUNCE_AFTER_SECONDS,
        poll: float | None = POLL_SECONDS,
    ) -> None:
        self._clock = clock
        self._say = say
        self._after = after
        self._poll = poll  # None: no thread, the caller calls check() (tests)
        self._condition = threading.Condition()
        self._out: dict[int, tuple[float, float, str]] = {}  # attempt -> (started, gives up at, what)
        self._ids = itertools.count()
        self._said = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def begin(self, what: str, longest: float) -> int:
        """An attempt goes out and waits at most ``longest`` seconds for ``what``
        (``the gateway at URL (SOURCE) to answer GET /path``); returns its ticket."""
        now = self._clock()
        with self._condition:
            ticket = next(self._ids)
            self._out[ticket] = (now, now + longest, what)
            if self._thread is None and self._poll is not None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="llmplan-answer-watch", daemon=True)
                self._thread.start()
        return ticket

    def end(self, ticket: int, *, answered: bool) -> None:
        with self._condition:
            self._out.pop(ticket, None)
            if answered:
                self._said = False  # the gateway answers again: a later spell gets its own line

    def check(self) -> str | None:
        """Say the line if an attempt has waited long enough and this spell was not told yet."""
        now = self._clock()
        with self._condition:
            if self._said or not self._out:
                return None
            started, gives_up_at, what = min(self._out.values())
            if now - started < self._after:
                return None
            self._said = True
        line = f"waiting up to {max(gives_up_at - now, 0.0):.1f} s more for {what}"
        self._say(line)
        return line

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)

    def _run(self) -> None:
        assert self._poll is not None
        while True:
            with self._condition:
                self._condition.wait(self._poll)
                if self._closed or not self._out:
                    self._thread = None  # idle: the next attempt starts another; a client never closed leaves nothing polling
                    return
            self.check()

"""Waits that are said and waits that can be cut short.

One line on stderr whenever llmplan is about to wait more than a few
seconds: a cron job or a CI log that sits silent for a minute looks hung; a
line that says what is awaited and for how long does not. Used for
connecting, retry backoffs, rate-limit windows, an open circuit breaker and
locks.

And a :class:`Cancellation` per component that talks to the outside (the
gateway client, the governance notifier): ``cancel()`` ends every exchange
it has in flight and every wait it is in within about
:data:`CANCEL_POLL_SECONDS`, so that SIGTERM and Ctrl-C end a command
within seconds whatever it waits on.  :func:`cancel_everything` cancels
every live one at once (the CLI's signal handling calls it, after a short
grace for the requests in flight).
"""

from __future__ import annotations

import sys
import threading
import weakref
from typing import Callable

from planner.model.printable import printable

ANNOUNCE_AFTER_SECONDS = 3.0
CANCEL_POLL_SECONDS = 0.2  # the longest a cancelled wait that cannot be woken directly goes on
INTERRUPT_GRACE_SECONDS = 2.0  # after Ctrl-C or SIGTERM, what requests in flight get before they are cut

_sink: Callable[[str], None] | None = None
_mutex = threading.Lock()


def _stderr(line: str) -> None:
    sys.stderr.write(printable(line) + "\n")  # a lock holder's name comes from a file
    sys.stderr.flush()


def announce_wait(seconds: float, what: str) -> None:
    """Say ``waiting N s for WHAT`` if ``seconds`` exceeds the threshold; silent otherwise."""
    if seconds < ANNOUNCE_AFTER_SECONDS:
        return
    with _mutex:
        (_sink or _stderr)(f"waiting {seconds:.1f} s for {what}")


def announce(line: str) -> None:
    """Say something about a wait whose length is not known in advance."""
    with _mutex:
        (_sink or _stderr)(line)


def redirect(sink: Callable[[str], None] | None) -> None:
    """Send the lines elsewhere (tests); None restores stderr."""
    global _sink
    _sink = sink


# --- cancellation ------------------------------------------------------------------------------------

_live: "weakref.WeakSet[Cancellation]" = weakref.WeakSet()
_live_lock = threading.Lock()


class Cancellation:
    """"Stop now" for one component; thread-safe, and final once set.

    Waits call :meth:`wait` instead of sleeping (it returns at once when
    cancelled); exchanges in flight register a callback with
    :meth:`on_cancel` that cuts their connection.  Whoever raises does so
    with its own error: this class knows nothing of HTTP.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._next = 0
        self.reason = ""
        with _live_lock:
            _live.add(self)

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self, reason: str = "the command is stopping") -> None:
        """End every wait and exchange now and refuse every later one; the first reason given is kept."""
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._event.set()
            callbacks = list(self._callbacks.values())
            self._callbacks.clear()
        for callback in callbacks:
            callback()

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless cancelled first; True when cancelled."""
        return self._event.wait(max(seconds, 0.0))

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` on cancel (at once if cancelled already); returns what unregisters it."""
        with self._lock:
            if not self._event.is_set():
                key = self._next
                self._next += 1
                self._callbacks[key] = callback

                def forget() -> None:
                    with self._lock:
                        self._callbacks.pop(key, None)

                return forget
        callback()
        return lambda: None


def cancel_everything(reason: str) -> int:
    """Cancel every live :class:`Cancellation` of this process; how many were not cancelled yet."""
    with _live_lock:
        live = list(_live)
    fresh = [cancellation for cancellation in live if not cancellation.cancelled]
    for cancellation in fresh:
        cancellation.cancel(reason)
    return len(fresh)


def cancel_everything_after(seconds: float, reason: str) -> threading.Timer:
    """:func:`cancel_everything` in ``seconds``, on a daemon timer (the process may end first)."""
    timer = threading.Timer(seconds, cancel_everything, args=(reason,))
    timer.daemon = True
    timer.name = "llmplan-cancel"
    timer.start()
    return timer

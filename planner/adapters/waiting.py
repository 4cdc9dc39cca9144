"""One line on stderr whenever llmplan is about to wait more than a few seconds.

A cron job or a CI log that sits silent for a minute looks hung; a line that
says what is awaited and for how long does not. Used for connecting, retry
backoffs, rate-limit windows, an open circuit breaker and locks.
"""

from __future__ import annotations

import sys
import threading
from typing import Callable

from planner.model.printable import printable

ANNOUNCE_AFTER_SECONDS = 3.0

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

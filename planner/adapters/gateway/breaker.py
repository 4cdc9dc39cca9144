"""Stop sending to a gateway that keeps failing, and notice when it is back.

Closed: requests flow; each 502/503/504, connection failure or timeout adds
to a count of *consecutive* failures, any other answer resets it.  After
``failure_threshold`` in a row the circuit opens: for ``cooldown_seconds``
every request fails at once with :class:`~planner.model.errors.CircuitOpen`, so a
1,000-model apply does not queue a thousand doomed requests (each with its
own retries) against a gateway that is down.  Then it is half-open: one
request, the probe, goes through; its success closes the circuit, its
failure opens it for another cool-down, and other requests keep failing
fast meanwhile.

Rate limiting (429) and client errors are answers from a working gateway:
they count as successes here.

The client may let a refused request wait for the probe instead of failing
(:meth:`admits_in`, :attr:`failing_since`): only while the outage has lasted
less than its deadline, so a short outage is ridden out and a long one
still fails every request at once.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from planner.model.errors import CircuitOpen

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"


class CircuitBreaker:
    """Thread-safe; every :meth:`before_request` must be followed by exactly one of
    :meth:`record_success`, :meth:`record_failure` or :meth:`record_abandoned`."""

    def __init__(
        self,
        *,
        failure_threshold: int = 10,
        cooldown_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_out = False
        self._last_failure = ""
        self._failing_since: float | None = None
        self.times_opened = 0

    @property
    def state(self) -> str:
        with self._lock:
            if self._state == OPEN and self._clock() - self._opened_at >= self.cooldown_seconds:
                return HALF_OPEN
            return self._state

    @property
    def failing_since(self) -> float | None:
        """When the current run of consecutive failures began (clock time), None while requests succeed."""
        with self._lock:
            return self._failing_since

    @property
    def summary(self) -> str:
        """``10 consecutive failures, last: 503 from PUT /api/...``, for messages."""
        with self._lock:
            return f"{self._failures} consecutive failures, last: {self._last_failure}"

    def admits_in(self) -> float:
        """Seconds until a request may be admitted (the cool-down left; 0 when closed or half-open)."""
        with self._lock:
            if self._state != OPEN:
                return 0.0
            return max(self._opened_at + self.cooldown_seconds - self._clock(), 0.0)

    def before_request(self) -> bool:
        """Admit a request or raise CircuitOpen; True when it is the half-open probe."""
        with self._lock:
            if self._state == CLOSED:
                return False
            remaining = self._opened_at + self.cooldown_seconds - self._clock()
            if self._state == OPEN and remaining <= 0:
                self._state = HALF_OPEN
            if self._state == HALF_OPEN and not self._probe_out:
                self._probe_out = True
                return True
            raise CircuitOpen(
                f"gateway unavailable: {self._failures} consecutive failures (last: {self._last_failure}); "
                + (
                    f"not sending requests for {max(remaining, 0.0):.1f} s more"
                    if remaining > 0
                    else "waiting for the probe request to tell whether it is back"
                ),
            )

    def record_success(self) -> None:
        with self._lock:
            self._state = CLOSED
            self._failures = 0
            self._probe_out = False
            self._failing_since = None

    def record_failure(self, description: str) -> None:
        """Count a 5xx-unavailable answer, connection failure or timeout (``description`` says which)."""
        with self._lock:
            self._failures += 1
            self._last_failure = description
            if self._failing_since is None:
                self._failing_since = self._clock()
            if self._state == HALF_OPEN or (self._state == CLOSED and self._failures >= self.failure_threshold):
                self._state = OPEN
                self._opened_at = self._clock()
                self._probe_out = False
                self.times_opened += 1

    def record_abandoned(self, probe: bool) -> None:
        """The request ended without an answer about the gateway (a bug, an interrupt): free the probe slot."""
        if probe:
            with self._lock:
                self._probe_out = False

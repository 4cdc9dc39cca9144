"""Pacing: spend the gateway's rate budget evenly instead of bouncing off it.

The gateway grants each client a budget of requests per window and says so
on every answer: ``inin-ratelimit-allowed`` (the budget),
``inin-ratelimit-count`` (used in this window), ``inin-ratelimit-reset``
(seconds until the window resets).  Budgets differ by org and endpoint, so
nothing is assumed: the :class:`Pacer` learns them from these headers.

It is a GCRA ("virtual scheduling") limiter shared by every thread of a
client: each request reserves the next start slot under a lock and sleeps
outside it.  Slots are ``1 / rate`` apart, ``rate`` being ``safety`` times
``allowed / window``, and a small burst is allowed after idling.  In any
interval as long as the window this sends at most
``burst + safety * allowed`` ≤ ``allowed`` requests, whether the gateway
counts in fixed or sliding windows, so a long apply runs just under the limit.

The window length is not a header: it is learnt as the largest ``reset``
seen (the gateway rounds it up to whole seconds, so the answers of the first
second of a window show the full length), leaving out the answer to a
window's first request (``count`` 1), whose rounding is the least reliable.
Until the budget and window are known nothing is paced; requests sent
meanwhile are charged to the budget once it is.  A client that never sends
twice in one window is never paced, and needs not be.  When an
answer says the budget is spent (``count`` ≥ ``allowed``), or a 429 arrives,
every thread holds until the window resets.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping

ALLOWED_HEADER = "inin-ratelimit-allowed"
COUNT_HEADER = "inin-ratelimit-count"
RESET_HEADER = "inin-ratelimit-reset"


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name, from a requests or a plain mapping."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def _number(headers: Mapping[str, str], name: str) -> float | None:
    value = header_value(headers, name)
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


@dataclass(frozen=True)
class RateLimitInfo:
    """The ``inin-ratelimit-*`` headers of one answer; a field is None when absent or garbled."""

    allowed: int | None
    count: int | None
    reset: float | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitInfo:
        allowed = _number(headers, ALLOWED_HEADER)
        count = _number(headers, COUNT_HEADER)
        return cls(
            allowed=int(allowed) if allowed is not None else None,
            count=int(count) if count is not None else None,
            reset=_number(headers, RESET_HEADER),
        )

    @property
    def exhausted(self) -> bool:
        """The answer says no request is left in this window."""
        return self.allowed is not None and self.count is not None and self.count >= self.allowed

    @property
    def has_room(self) -> bool:
        """The answer says requests are left in this window (False when it does not say)."""
        return self.allowed is not None and self.count is not None and self.count < self.allowed


DEFAULT_WINDOW_SECONDS = 60.0  # the contract's window, used only if no answer ever says ``reset``


class Pacer:
    """A rate limiter shared by all threads, learning the budget from the gateway's answers.

    ``safety`` is the share of the budget spent at a steady pace; the rest
    absorbs the timing jitter between our clock and the gateway's.
    """

    def __init__(
        self,
        *,
        safety: float = 0.97,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 0.0 < safety <= 1.0:
            raise ValueError("safety must be in (0, 1]")
        self._safety = safety
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._allowed: int | None = None
        self._window: float | None = None
        self._interval: float | None = None  # seconds between slots; None while unpaced
        self._tolerance = 0.0  # how far ahead of the schedule a burst may run
        self._theoretical_arrival = 0.0  # GCRA's TAT: when the schedule is next free
        self._held_until = 0.0
        self._unpaced_sent = 0

    # --- what threads call -------------------------------------------------

    def acquire(self) -> float:
        """Wait for this caller's slot; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                start = max(now, self._held_until)
                if self._interval is None:
                    self._unpaced_sent += 1
                else:
                    start = max(start, self._theoretical_arrival - self._tolerance)
                    self._theoretical_arrival = max(self._theoretical_arrival, start) + self._interval
            delay = start - now
            if delay > 0:
                self._sleep(delay)
                waited += delay
            with self._lock:
                # A hold announced while we slept (a 429 elsewhere) wins over our slot.
                if self._held_until <= self._clock():
                    return waited

    def observe(self, info: RateLimitInfo) -> None:
        """Learn from one answer's rate-limit headers."""
        if info.allowed is None or info.allowed <= 0:
            return
        with self._lock:
            now = self._clock()
            self._allowed = info.allowed
            if info.exhausted and info.reset is not None:
                self._held_until = max(self._held_until, now + info.reset)
            if info.reset is None:
                window: float | None = DEFAULT_WINDOW_SECONDS
            elif info.count == 1 or info.reset <= 0:
                # The first request of a window says the whole window, and a
                # server computing "end - now" in floating point may round it
                # up to one second more (the sandbox does, now and then): a
                # 1 s window read as 2 s would halve the pace.  Later answers
                # of the window tell the length as well, without that risk.
                window = None
            else:
                window = info.reset
            if window is not None:
                self._window = max(self._window or 0.0, window)
            if self._window is None:
                return  # not paced until the window is known
            first = self._interval is None
            self._interval = self._window / (self._safety * info.allowed)
            burst = max(1, math.floor(info.allowed * (1.0 - self._safety) / 2))
            self._tolerance = (burst - 1) * self._interval
            if first:
                # Requests sent before we knew the budget count against it.
                self._theoretical_arrival = max(self._theoretical_arrival, now) + self._unpaced_sent * self._interval
                self._unpaced_sent = 0

    def hold(self, seconds: float) -> None:
        """Nobody sends for ``seconds`` from now (the budget is spent)."""
        with self._lock:
            self._held_until = max(self._held_until, self._clock() + max(seconds, 0.0))

    # --- what it learnt, for logs, benchmarks and tests --------------------

    @property
    def rate(self) -> float | None:
        """Requests per second it paces to, or None before the budget is known."""
        with self._lock:
            return None if self._interval is None else 1.0 / self._interval

    @property
    def budget(self) -> tuple[int, float] | None:
        """(allowed, window seconds) as learnt, or None."""
        with self._lock:
            if self._allowed is None:
                return None
            return self._allowed, self._window or DEFAULT_WINDOW_SECONDS

    @property
    def held_until(self) -> float:
        with self._lock:
            return self._held_until

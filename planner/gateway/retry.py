"""When to retry a request and how long to wait first: one small immutable policy.

Modelled on urllib3's ``Retry``: the policy answers questions and never
sleeps or sends; :meth:`RetryPolicy.increment` returns a *new* policy with one
attempt used up, so a policy object can be shared by every thread and every
call as the starting budget.  The transport (``client.py``) owns the single
loop that acts on the answers; urllib3's own retries are switched off there,
so the attempts the gateway sees are exactly the ones counted here.

The three reasons to try again:

- 401: the token expired or was revoked; a fresh token is fetched and the
  request is sent **once** more.  A second 401 is an error, never a loop.
- 429: over the rate budget; wait ``Retry-After``, else
  ``inin-ratelimit-reset`` (unless the headers show the window has room
  left), else capped exponential backoff with full jitter.
- 502/503/504, connection failures, timeouts: capped exponential backoff with
  full jitter (``Retry-After`` honoured when a 503 sends one).

401 and 429 mean the gateway did not process the request, so they are retried
for every method.  The others may hide a processed request, so they are
retried only for idempotent methods (GET and PUT; POST /oauth/token is
declared idempotent by its caller: minting a second token changes nothing).
400/403/404/409 and every other answer are final.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field, replace
from typing import Mapping

import requests
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from planner.gateway.pacing import RateLimitInfo, header_value

Outcome = int | BaseException
"""What an attempt produced: the HTTP status, or the exception that replaced it."""

UNAVAILABLE_STATUSES = frozenset({502, 503, 504})


class Cause(enum.Enum):
    UNAUTHORIZED = "401 unauthorized"
    RATE_LIMITED = "429 rate limited"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class RetryRecord:
    """One failed attempt, as remembered by the policy (for messages and tests)."""

    method: str
    cause: Cause
    status: int | None
    error: str | None


def cause_of(outcome: Outcome) -> Cause | None:
    """Why ``outcome`` might deserve another attempt, or None when it is final."""
    if isinstance(outcome, bool):
        return None
    if isinstance(outcome, int):
        if outcome == 401:
            return Cause.UNAUTHORIZED
        if outcome == 429:
            return Cause.RATE_LIMITED
        if outcome in UNAVAILABLE_STATUSES:
            return Cause.UNAVAILABLE
        return None
    # ConnectionError covers refused/reset/dropped connections and read
    # timeouts while the body streams in; Timeout covers connect/read timeouts.
    if isinstance(outcome, (requests.ConnectionError, requests.Timeout)):
        return Cause.UNAVAILABLE
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """The retry budget of one logical request.

    ``total`` bounds retries of every cause together; each cause has its own
    bound besides.  The defaults ride out a full 60 s rate-limit window (the
    first 429 waits until the window resets) and half a minute of a gateway
    answering 503, and stop there.  ``backoff_cap`` caps one backoff wait,
    ``max_wait`` caps any wait, including one the gateway asks for.
    """

    total: int = 16
    reauthenticate: int = 1
    rate_limited: int = 10
    unavailable: int = 8
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_wait: float = 120.0
    idempotent_methods: frozenset[str] = frozenset({"GET", "PUT"})
    history: tuple[RetryRecord, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if min(self.total, self.reauthenticate, self.rate_limited, self.unavailable) < 0 and not self.history:
            raise ValueError("retry counts must be >= 0")
        if self.backoff_base < 0 or self.backoff_cap < 0 or self.max_wait < 0:
            raise ValueError("backoff_base, backoff_cap and max_wait must be >= 0")

    @property
    def retries(self) -> int:
        """How many retries this policy has granted so far."""
        return len(self.history)

    @property
    def is_exhausted(self) -> bool:
        return min(self.total, self.reauthenticate, self.rate_limited, self.unavailable) < 0

    def is_retryable(self, method: str, outcome: Outcome, *, idempotent: bool | None = None) -> bool:
        """May ``outcome`` of a ``method`` request be tried again (budget aside)?

        ``idempotent`` overrides the method's default, for a caller that
        knows better (the token request is a POST that is safe to repeat).
        """
        cause = cause_of(outcome)
        if cause is None:
            return False
        if cause in (Cause.UNAUTHORIZED, Cause.RATE_LIMITED):
            return True
        return idempotent if idempotent is not None else method.upper() in self.idempotent_methods

    def increment(self, method: str, outcome: Outcome) -> RetryPolicy:
        """A new policy with one retry for ``outcome`` used up; check :attr:`is_exhausted` after."""
        cause = cause_of(outcome)
        if cause is None:
            raise ValueError(f"{outcome!r} is not a retryable outcome")
        record = RetryRecord(
            method=method.upper(),
            cause=cause,
            status=outcome if isinstance(outcome, int) else None,
            error=None if isinstance(outcome, int) else type(outcome).__name__,
        )
        return replace(
            self,
            total=self.total - 1,
            reauthenticate=self.reauthenticate - (cause is Cause.UNAUTHORIZED),
            rate_limited=self.rate_limited - (cause is Cause.RATE_LIMITED),
            unavailable=self.unavailable - (cause is Cause.UNAVAILABLE),
            history=(*self.history, record),
        )

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)]; ``attempt`` counts from 0."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** min(attempt, 62)))
        return rng.uniform(0.0, ceiling)

    def next_wait(self, outcome: Outcome, headers: Mapping[str, str] | None, rng: random.Random) -> float:
        """Seconds to wait before retrying after ``outcome`` (call on the incremented policy).

        The exponent is the number of earlier retries for the same cause, so a
        429 after three 503s starts its own backoff from the base.
        """
        cause = cause_of(outcome)
        if cause is None or cause is Cause.UNAUTHORIZED:
            return 0.0
        headers = headers or {}
        asked = retry_after_seconds(headers)
        if asked is None and cause is Cause.RATE_LIMITED:
            window = RateLimitInfo.from_headers(headers)
            # The reset is worth waiting for only when the window may be what
            # refused us; a 429 whose headers show room left (another limit, a
            # passing fault) would gain nothing from waiting out the window.
            if not window.has_room:
                asked = window.reset
        if asked is not None:
            return min(max(asked, 0.0), self.max_wait)
        attempt = max(sum(1 for record in self.history if record.cause is cause) - 1, 0)
        return min(self.backoff(attempt, rng), self.max_wait)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), None when absent or garbled."""
    value = header_value(headers, "Retry-After")
    if value is None:
        return None
    try:
        return Retry(0).parse_retry_after(value)
    except InvalidHeader:
        return None

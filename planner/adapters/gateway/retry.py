"""When to retry a request and how long to wait first: one small immutable policy.

Modelled on urllib3's ``Retry``: the policy answers questions and never
sleeps or sends; :meth:`RetryPolicy.increment` returns a *new* policy with one
attempt used up, so a policy object can be shared by every thread and every
call as the starting budget.  The transport (``client.py``) owns the single
loop that acts on the answers; urllib3's own retries are switched off there,
so the attempts the gateway sees are exactly the ones counted here.

What an attempt can tell, and what is done with it:

- 401: the token expired or was revoked; a fresh token is fetched and the
  request is sent **once** more.  A second 401 is an error, never a loop.
- 429: over the rate budget; wait ``Retry-After``, else
  ``inin-ratelimit-reset`` (unless the headers show the window has room
  left), else capped exponential backoff with full jitter.
- 503: the gateway says it is unavailable (maintenance, upstream down) and
  did nothing; capped exponential backoff with full jitter (``Retry-After``
  honoured).
- The connection failed before the request was sent (refused, a name that
  does not resolve, a connect timeout): nothing reached the gateway.
- No answer after the request may have reached the gateway: the connection
  closed or reset after sending, a read timeout, a proxy's 502 or 504.
  The outcome is *unknown*: the gateway may have applied it.

401, 429, 503 and a connection that failed before sending mean the gateway
did not process the request, so they are retried for every method.  An
unknown outcome is retried only for idempotent methods (GET; POST
/oauth/token is declared idempotent by its caller: minting a second token
changes nothing).  A PUT is never resent blindly after one: its caller reads
the configuration back and decides (:mod:`planner.adapters.gateway.outcomes`).
400/403/404/409 and every other answer are final, and so is a TLS handshake
that failed for good (a plain-HTTP server, a certificate that does not
verify).  An attempt cut off by its deadline (:mod:`planner.adapters.gateway.deadline`)
counts as a connect timeout before the request was sent, as a read timeout after.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field, replace
from typing import Mapping

import requests
from urllib3.exceptions import ConnectTimeoutError, InvalidHeader
from urllib3.util.retry import Retry

from planner.adapters.gateway.failures import tls_failure
from planner.adapters.gateway.pacing import RateLimitInfo, header_value

Outcome = int | BaseException
"""What an attempt produced: the HTTP status, or the exception that replaced it."""

UNAVAILABLE_STATUSES = frozenset({502, 503, 504})
NO_ANSWER_STATUSES = frozenset({502, 504})  # a proxy's answer: the gateway behind it may have processed the request


class Cause(enum.Enum):
    UNAUTHORIZED = "401 unauthorized"
    RATE_LIMITED = "429 rate limited"
    UNAVAILABLE = "unavailable"  # 503: the gateway says it did nothing
    UNREACHABLE = "unreachable"  # the connection failed before the request was sent
    NO_ANSWER = "no answer"  # sent, then no answer: the outcome is unknown


UNAVAILABLE_CAUSES = frozenset({Cause.UNAVAILABLE, Cause.UNREACHABLE, Cause.NO_ANSWER})  # one budget: the gateway is not answering


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
        if outcome == 503:
            return Cause.UNAVAILABLE
        if outcome in NO_ANSWER_STATUSES:
            return Cause.NO_ANSWER
        return None
    if not isinstance(outcome, TRANSPORT_ERRORS):
        return None  # a bad URL, too many redirects: nothing another attempt would change
    if tls_failure(outcome) is not None:
        return None  # plain HTTP where TLS was expected, a certificate that does not verify: the same next time
    if never_sent(outcome):
        return Cause.UNREACHABLE
    # After the request may have left: a connection closed or reset (ConnectionError
    # wrapping urllib3's ProtocolError), a read timeout, a body cut short
    # (ChunkedEncodingError), a TLS or proxy failure we cannot place.
    return Cause.NO_ANSWER


TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)


def never_sent(error: BaseException) -> bool:
    """True when ``error`` certainly happened before any byte of the request reached the gateway.

    With urllib3's retries off, requests raises for a failed connection
    ``ConnectTimeout`` (urllib3's ``ConnectTimeoutError``) or
    ``ConnectionError`` around a ``MaxRetryError`` whose reason is a
    ``NewConnectionError`` (refused, unreachable; ``NameResolutionError``
    is one).  Errors raised before a connection is even tried (a bad URL or
    header) count too.  Everything else may come after the request was sent:
    ``ConnectionError`` around ``ProtocolError`` (closed or reset after
    sending, also on a pooled connection the server had closed), ``ReadTimeout``,
    ``ChunkedEncodingError``, and ``SSLError``/``ProxyError``, which cannot
    say when they happened.
    """
    if isinstance(error, requests.ConnectTimeout):
        return True
    if isinstance(error, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema, requests.exceptions.InvalidHeader, requests.exceptions.URLRequired)):
        return True
    if isinstance(error, requests.ConnectionError) and not isinstance(error, (requests.exceptions.SSLError, requests.exceptions.ProxyError)):
        wrapped = error.args[0] if error.args else None
        return isinstance(getattr(wrapped, "reason", None), ConnectTimeoutError)  # NewConnectionError is one
    return False


def outcome_unknown(outcome: Outcome) -> bool:
    """True when the request may have been processed although no usable answer came back."""
    return cause_of(outcome) is Cause.NO_ANSWER


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
    idempotent_methods: frozenset[str] = frozenset({"GET"})
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
        if cause is not Cause.NO_ANSWER:
            return True  # the gateway did not process it
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
            unavailable=self.unavailable - (cause in UNAVAILABLE_CAUSES),
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
        kin = UNAVAILABLE_CAUSES if cause in UNAVAILABLE_CAUSES else {cause}
        attempt = max(sum(1 for record in self.history if record.cause in kin) - 1, 0)
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

"""One request until its answer is final: the loop every call of the gateway client goes through.

    token (cached, single flight) → pacer slot → circuit breaker → send → slot back to the pacer
    → on 401/429/503/connection failure: ask the RetryPolicy, wait (said on stderr when long), again

The loop owns the deadlines of unanswered attempts (``gateway.timeout_seconds``),
the shared budget while nothing has ever answered
(:mod:`~planner.adapters.gateway.reachability`), waits on the breaker and
backoffs that a cancel cuts short, and the error that says what happened
with the real elapsed time. It knows nothing of the API's paths: the
client's typed calls (:mod:`~planner.adapters.gateway.client`) do.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import requests

from planner.adapters.gateway.auth import TokenCache
from planner.adapters.gateway.breaker import CircuitBreaker
from planner.adapters.gateway.failures import describe_exception, error_from_exception, error_given_up
from planner.adapters.gateway.pacing import Pacer, RateLimitInfo
from planner.adapters.gateway.reachability import Reachability
from planner.adapters.gateway.retry import Cause, RetryPolicy, cause_of, never_sent
from planner.adapters.gateway.transport import Transport
from planner.adapters.gateway.wire import Timeouts
from planner.adapters.waiting import Cancellation, announce_wait
from planner.model.configuration import canonical_json
from planner.model.errors import Cancelled, CircuitOpen, GatewayError, OutcomeUnknown

PROBE_POLL_SECONDS = 0.5  # how often a request waiting on a half-open breaker looks again
MIN_ATTEMPT_SECONDS = 0.1


class Requester:
    """Thread-safe; one per client. ``tokens`` is set by the client (its token fetch goes through this loop too)."""

    def __init__(
        self,
        transport: Transport,
        *,
        retry: RetryPolicy,
        timeouts: Timeouts,
        breaker: CircuitBreaker,
        pacer: Pacer,
        cancellation: Cancellation,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        rng: random.Random,
        log: logging.Logger,
        where: Callable[[str], str],
    ) -> None:
        self._transport = transport
        self._retry = retry
        self._timeouts = timeouts
        self.breaker = breaker
        self.pacer = pacer
        self.cancellation = cancellation
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._log = log
        self.where = where
        self._tokens: TokenCache | None = None
        self._reach = Reachability(clock=clock, connect_budget=timeouts.connect_deadline, deadline=timeouts.deadline)
        self._stats_lock = threading.Lock()
        self._breaker_told = -1  # the breaker opening whose wait was announced
        self.retries = 0
        self.retry_wait = 0.0
        self.pacing_wait = 0.0

    def use_tokens(self, tokens: TokenCache) -> None:
        self._tokens = tokens

    def idempotent(self, method: str, idempotent: bool | None) -> bool:
        return idempotent if idempotent is not None else method.upper() in self._retry.idempotent_methods

    def exchange(
        self,
        method: str,
        url: str,
        *,
        body: Mapping[str, Any] | None = None,
        form: Mapping[str, str] | None = None,
        authenticated: bool = True,
        idempotent: bool | None = None,
        paced: bool = True,
    ) -> tuple[requests.Response, int]:
        """Send until an answer is final or the policy or the deadline says stop; returns (last answer, retries).

        Raises CircuitOpen when the breaker refuses (and its probe is not due
        within the deadline), GatewayUnavailable when the gateway cannot be
        reached in time, OutcomeUnknown when a request that is not idempotent
        got no answer after it may have reached the gateway.  Any HTTP
        answer, error or not, is returned for the caller to interpret.
        """
        path = urlsplit(url).path
        correlation_id = str(uuid.uuid4())
        policy = self._retry
        data = canonical_json(body).encode("utf-8") if body is not None else None
        silent_since: float | None = None  # the first attempt of those that got no answer: the deadline runs from there
        sent = False  # an attempt may have reached the gateway and its outcome is unknown
        while True:
            self._raise_if_cancelled(method, url, path, sent)
            if silent_since is None:
                given_up = self._given_up(method, url, path)
                if given_up is not None:
                    raise given_up
            token = self._tokens.get() if authenticated and self._tokens is not None else None
            try:
                slot = self.pacer.acquire() if paced else None
            except Cancelled:
                raise self._cancelled(method, url, path, sent) from None
            if slot is not None and slot.waited:
                with self._stats_lock:
                    self.pacing_wait += slot.waited
            started = self._clock()
            left = self._timeouts.deadline - (started - silent_since) if silent_since is not None else self._timeouts.deadline
            budget = min(self._timeouts.attempt, max(left, MIN_ATTEMPT_SECONDS))
            try:
                outcome = self._transport.send(
                    method, url, path, data=data, form=form, token=token, correlation_id=correlation_id, attempt=policy.retries + 1,
                    connect=self._timeouts.connect, budget=budget, awaited=f"the gateway at {self.where(url)} to answer {method} {path}",
                )
            except CircuitOpen as refused:
                if slot is not None:
                    self.pacer.cancel(slot)  # refused before sending
                if not self._waited_for_breaker(method, url, path, sent):
                    given_up = self._given_up(method, url, path, now=True)
                    raise given_up or CircuitOpen(f"{refused.message}; the gateway is {self.where(url)}", method=method, url=url) from None
                continue
            except BaseException as error:
                if slot is not None:
                    self.pacer.release(slot, None)
                if isinstance(error, Cancelled):
                    raise self._cancelled(method, url, path, sent or error.sent) from None
                raise
            if slot is not None:
                # Every slot is given back, answered or not: the pacer counts it in flight until then.
                self.pacer.release(slot, RateLimitInfo.from_headers(outcome.headers) if isinstance(outcome, requests.Response) else None)
            result: int | BaseException
            headers: Mapping[str, str]
            if isinstance(outcome, requests.Response):
                result, headers, what = outcome.status_code, outcome.headers, str(outcome.status_code)
                silent_since = None  # an answer, even 429 or 503, says what became of that attempt
                self._reach.heard()
            else:
                result, headers, what = outcome, {}, describe_exception(outcome)
                silent_since = started if silent_since is None else silent_since
                sent = sent or not never_sent(outcome)
                self._reach.unheard(started, what, unreachable=cause_of(outcome) is Cause.UNREACHABLE)
            cause = cause_of(result)
            if cause is Cause.UNAUTHORIZED and not authenticated:
                cause = None  # a 401 of the token endpoint is bad credentials, not an expired token
            if cause is None or not policy.is_retryable(method, result, idempotent=idempotent):
                return self._final(method, url, path, outcome, policy.retries, idempotent, silent_since)
            if cause is Cause.UNAUTHORIZED and token is not None and self._tokens is not None:
                self._tokens.invalidate(token)
            policy = policy.increment(method, result)
            if policy.is_exhausted:
                return self._final(method, url, path, outcome, policy.retries - 1, idempotent, silent_since)
            wait = policy.next_wait(result, headers, self._rng)
            if silent_since is not None:
                answered, shared = self._reach.answered, self._reach.since
                budget = self._timeouts.connect_deadline if cause is Cause.UNREACHABLE and not answered else self._timeouts.deadline
                # until the gateway has answered once, the other threads' unanswered attempts spend the same budget
                since = min(silent_since, shared) if shared is not None and not answered else silent_since
                if self._clock() - since + wait >= budget:
                    return self._final(method, url, path, outcome, policy.retries - 1, idempotent, silent_since)
            held = False
            if cause is Cause.RATE_LIMITED and paced:
                # A 429 whose headers say the budget is spent stops every thread
                # until the window resets (the pacer says so on stderr).  One that
                # does not say so (another limit, a passing fault) delays only this
                # request: holding everyone on it would let a few stray 429s stall a whole apply.
                if RateLimitInfo.from_headers(headers).exhausted:
                    self.pacer.hold(wait)
                    held = True
            self._log.info(
                "retrying %s %s in %.2f s after %s (retry %d; correlation id %s)",
                method, path, wait, what, policy.retries, correlation_id,
            )
            if not held:
                announce_wait(wait, f"the next attempt of {method} {path} (after {what}; retry {policy.retries})")
            with self._stats_lock:
                self.retries += 1
                self.retry_wait += wait
            if wait > 0:
                self._pause(wait, method, url, path, sent)

    def _given_up(self, method: str, url: str, path: str, *, now: bool = False) -> GatewayError | None:
        """The error for a request not sent because nothing has answered at the gateway's address
        for the whole budget (or ``now``, when the breaker refuses it); None while there is hope."""
        silence = self._reach.given_up(now=now)
        if silence is None:
            return None
        return error_given_up(method=method, url=url, path=path, seconds=silence.seconds, attempts=silence.attempts, last=silence.last, where=self.where(url))

    def _cancelled(self, method: str, url: str, path: str, sent: bool) -> Cancelled:
        reason = self.cancellation.reason
        if sent and method.upper() == "PUT":
            return Cancelled(
                f"{method} {path} was cancelled after it was sent ({reason}): whether the gateway applied it is unknown",
                sent=True, method=method, url=url,
                hint="the next apply reads the configuration back and records what happened",
            )
        return Cancelled(f"{method} {path} was cancelled ({reason})", sent=sent, method=method, url=url)

    def _raise_if_cancelled(self, method: str, url: str, path: str, sent: bool) -> None:
        if self.cancellation.cancelled:
            raise self._cancelled(method, url, path, sent)

    def _pause(self, seconds: float, method: str, url: str, path: str, sent: bool) -> None:
        """Sleep, unless cancelled first (then raise at once)."""
        if self._sleep is time.sleep:
            self.cancellation.wait(seconds)
        else:
            self._sleep(seconds)  # a test's fake clock
        self._raise_if_cancelled(method, url, path, sent)

    def _waited_for_breaker(self, method: str, url: str, path: str, sent: bool) -> bool:
        """Wait for the breaker's probe if the outage is still younger than the deadline; False: give up now.

        Never for a gateway that has not answered once: nothing is known to
        be there to recover, so waiting would only delay the error.
        """
        since = self.breaker.failing_since
        admits_in = self.breaker.admits_in()
        wait = admits_in if admits_in > 0 else PROBE_POLL_SECONDS  # half-open: the probe is out, look again shortly
        if not self._reach.answered or since is None or self._clock() + wait - since > self._timeouts.deadline:
            return False
        with self._stats_lock:
            tell = self.breaker.times_opened != self._breaker_told and admits_in > 0
            if tell:
                self._breaker_told = self.breaker.times_opened
        if tell:
            announce_wait(wait, f"the gateway to recover (circuit breaker open after {self.breaker.summary})")
        self._pause(wait, method, url, path, sent)
        return True

    def _final(
        self,
        method: str,
        url: str,
        path: str,
        outcome: requests.Response | BaseException,
        retries: int,
        idempotent: bool | None,
        silent_since: float | None,
    ) -> tuple[requests.Response, int]:
        if isinstance(outcome, requests.Response):
            return outcome, retries
        self._reach.abandon_unless_answered()  # nothing ever answered and this request gave up: so does every later one
        if cause_of(outcome) is Cause.NO_ANSWER and not self.idempotent(method, idempotent):
            raise OutcomeUnknown(
                f"{method} {path}: no answer ({describe_exception(outcome)}) after the request may have reached the gateway at {self.where(url)}",
                method=method, url=url,
            ) from outcome
        seconds = self._clock() - silent_since if silent_since is not None else 0.0
        raise error_from_exception(method=method, url=url, path=path, error=outcome, retries=retries, where=self.where(url), seconds=seconds) from outcome

"""The gateway client: typed calls over one pooled, paced, guarded HTTP session.

Every request goes through one loop (:meth:`GatewayClient._exchange`):

    token (cached, single flight) → pacer slot → circuit breaker → send → slot back to the pacer
    → on 401/429/503/connection failure: ask the RetryPolicy, wait (said on stderr when long), again

urllib3's own retries are off (``max_retries=0``): with one loop the number
of requests the gateway sees is exactly what the policy allows, the pacer
and the breaker see every attempt, and a 401 can be retried with a new
Authorization header, which urllib3 cannot do.  The policy reuses urllib3's
``Retry-After`` parsing.

Deadlines (:class:`~planner.adapters.gateway.wire.Timeouts`): every attempt is one
exchange with a total deadline (:mod:`planner.adapters.gateway.deadline`: connecting,
sending and the whole answer, so a gateway that trickles is cut off);
attempts that get no answer are retried only until the deadline (30 s,
``gateway.timeout_seconds``, ``--gateway-timeout``), and before the gateway
ever answered, a connection that fails outright only for 5 s, after which
every request of the client fails at once (nothing answered: neither the
breaker nor a token refetch adds a wait); errors name the URL, where it came
from and the real time spent.  Waits of more than a few seconds are
announced on stderr (:mod:`planner.adapters.waiting`): retry backoffs here, rate-limit
windows in the pacer, an answer that keeps us waiting in
:mod:`planner.adapters.gateway.watch`.

Cancellation: :meth:`GatewayClient.cancel` cuts every exchange in flight
and ends every wait (backoff, pacer, breaker, a token being fetched) within
moments; each raises :class:`~planner.adapters.gateway.Cancelled`, and
nothing is sent afterwards.  An interrupted command calls it.

A PUT whose answer is lost is never resent by this loop:
:meth:`GatewayClient.apply_configuration` reads the configuration back and
:func:`~planner.adapters.gateway.outcomes.judge` decides (landed, not landed → resend
with the same version guard, or a conflict).

One client is shared by the apply engine's threads: the session's
connection pool holds ``parallelism`` connections and a semaphore keeps at
most that many requests in flight, so no thread ever opens a throwaway
connection.
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

from planner.adapters.gateway.auth import TokenCache, TokenGrant, credentials_refused, grant_from_answer
from planner.adapters.gateway.breaker import CircuitBreaker
from planner.adapters.gateway.endpoints import Credentials, Endpoint, is_loopback_url
from planner.adapters.gateway.failures import describe_exception, error_from_exception, error_from_response, error_given_up
from planner.adapters.gateway.outcomes import put_until_known
from planner.adapters.gateway.pacing import Pacer, RateLimitInfo
from planner.adapters.gateway.paging import MAX_PAGE_SIZE, list_models
from planner.adapters.gateway.retry import NO_ANSWER_STATUSES, Cause, RetryPolicy, cause_of, never_sent
from planner.adapters.gateway.transport import Transport
from planner.adapters.gateway.watch import AnswerWatch
from planner.adapters.gateway.wire import (  # noqa: F401  (GatewayModel, ClientStats, Timeouts, check_model_id: imported from here by callers)
    MODELS_PATH,
    Applied,
    ClientStats,
    GatewayModel,
    Timeouts,
    check_model_id,
    decoded,
    model_from_api,
)
from planner.adapters.waiting import Cancellation, announce_wait
from planner.model.configuration import READ_ONLY_FIELDS, canonical_json
from planner.model.errors import Cancelled, CircuitOpen, GatewayError, NotFound, OutcomeUnknown

LOGGER_NAME = "llmplan.gateway"
TOKEN_PATH = "/oauth/token"
PROBE_POLL_SECONDS = 0.5  # how often a request waiting on a half-open breaker looks again
COOLDOWN_SECONDS = 30.0
MIN_ATTEMPT_SECONDS = 0.1


class GatewayClient:
    """The typed calls of the gateway API; thread-safe, one per process and gateway.

    ``clock`` and ``sleep`` drive every wait (retry backoff, pacing, token
    expiry, breaker cool-down); tests inject fakes (a fake ``sleep`` is not
    woken by :meth:`cancel`).  ``pacer`` and ``breaker`` may be passed to
    share or tune them.  ``source`` says where the
    address came from (``$LLMPLAN_GATEWAY_URL``, ``gateway.base_url in …``),
    for messages.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        credentials: Credentials,
        *,
        parallelism: int = 10,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        breaker: CircuitBreaker | None = None,
        pacer: Pacer | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        logger: logging.Logger | None = None,
        source: str = "",
        watch: AnswerWatch | None = None,
    ) -> None:
        if parallelism < 1:
            raise ValueError("parallelism must be >= 1")
        self.endpoint = endpoint
        self.parallelism = parallelism
        self.source = source
        self._credentials = credentials
        self._retry = retry or RetryPolicy()
        self._timeouts = timeouts or Timeouts()
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._log = logger or logging.getLogger(LOGGER_NAME)
        self.cancellation = Cancellation()
        # a third of the deadline: an outage shorter than the deadline gets a probe or two before it ends
        self.breaker = breaker or CircuitBreaker(clock=clock, cooldown_seconds=min(COOLDOWN_SECONDS, self._timeouts.deadline / 3))
        self.pacer = pacer or Pacer(clock=clock, sleep=sleep, cancellation=self.cancellation)
        loopback = is_loopback_url(endpoint.api_url) and is_loopback_url(endpoint.login_url)
        self._transport = Transport(
            credentials, parallelism=parallelism, trust_env=not loopback, breaker=self.breaker, watch=watch or AnswerWatch(clock=clock),
            cancellation=self.cancellation, clock=clock, log=self._log,
        )
        self._tokens = TokenCache(self._fetch_token, clock=clock)
        self._stats_lock = threading.Lock()
        self._answered = False  # the gateway answered at least once: it exists at this address
        # Until it has: when the run of unanswered attempts of every thread began, how many, the
        # last failure, and whether every one failed to connect (then the 5 s budget applies).
        self._silent_since: float | None = None
        self._silent_attempts = 0
        self._silent_last = ""
        self._silent_unreachable = True
        self._abandoned = False  # a request gave up on it: every later one fails at once
        self._breaker_told = -1  # the breaker opening whose wait was announced
        self._retries = 0
        self._retry_wait = 0.0
        self._pacing_wait = 0.0
        self._read_backs = 0

    def close(self) -> None:
        self._transport.close()

    def cancel(self, reason: str = "the command is stopping") -> None:
        """End every exchange in flight and every wait now; every call, now or later, raises Cancelled.

        Thread-safe, for an interrupted command: a PUT cut off this way has
        an unknown outcome (``Cancelled.sent``), which the next run settles.
        """
        self.cancellation.cancel(reason)

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GatewayClient({self.endpoint.api_url!r}, client_id={self._credentials.client_id!r})"

    def where(self, url: str) -> str:
        """``http://host:port (from $LLMPLAN_GATEWAY_URL)``: the origin of ``url`` and where the address came from."""
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" + (f" ({self.source})" if self.source else "")

    # --- typed calls -------------------------------------------------------

    def list_models(self, *, expand_configuration: bool = True, page_size: int = MAX_PAGE_SIZE) -> list[GatewayModel]:
        """Every model, page by page (:func:`~planner.adapters.gateway.paging.list_models`)."""
        return list_models(self._json, self.endpoint.api_url, parallelism=self.parallelism, expand_configuration=expand_configuration, page_size=page_size)

    def get_model(self, model_id: str) -> GatewayModel:
        """One model with its capabilities (``configuration`` is None)."""
        model_id = check_model_id(model_id)
        url = f"{self.endpoint.api_url}{MODELS_PATH}/{model_id}"
        return model_from_api(self._json("GET", url), with_configuration=False, url=url)

    def get_configuration(self, model_id: str, *, model_known: bool = False) -> dict[str, Any] | None:
        """The current configuration, or None when the model was never configured.

        The gateway answers 404 both for "never configured" and for an unknown
        model; on a 404 the model itself is fetched, so an unknown model
        raises :class:`NotFound` (one extra request, only on a 404), unless
        the caller already knows the model exists (``model_known``, e.g. it
        fetches the model alongside).
        """
        model_id = check_model_id(model_id)
        url = f"{self.endpoint.api_url}{MODELS_PATH}/{model_id}/configuration"
        try:
            return self._json("GET", url)
        except NotFound:
            if not model_known:
                self.get_model(model_id)
            return None

    def put_configuration(self, model_id: str, configuration: Mapping[str, Any], expected_version: int | None) -> dict[str, Any]:
        """:meth:`apply_configuration`, returning only the configuration the gateway now has."""
        return self.apply_configuration(model_id, configuration, expected_version).configuration

    def apply_configuration(self, model_id: str, configuration: Mapping[str, Any], expected_version: int | None) -> Applied:
        """Replace the configuration atomically, and know for certain whether it landed.

        Read-only fields in ``configuration`` are not sent; ``version`` is sent
        when ``expected_version`` is given (0: "only if never configured"), so
        the gateway refuses (409) a PUT over a configuration that changed
        since it was read, and a resend can never apply twice.  A lost answer
        or a 409 is resolved by reading the configuration back
        (:func:`~planner.adapters.gateway.outcomes.put_until_known`): the applied
        configuration, :class:`~planner.model.errors.VersionConflict` (not applied,
        nothing overwritten) or :class:`~planner.model.errors.OutcomeUnknown`
        (the read-back failed too).
        """
        model_id = check_model_id(model_id)
        sent = {key: value for key, value in configuration.items() if key not in READ_ONLY_FIELDS}
        body = {**sent, "version": expected_version} if expected_version is not None else sent
        url = f"{self.endpoint.api_url}{MODELS_PATH}/{model_id}/configuration"

        def read_back() -> dict[str, Any] | None:
            with self._stats_lock:
                self._read_backs += 1
            return self.get_configuration(model_id, model_known=True)

        return put_until_known(lambda: self._json("PUT", url, body=body), read_back, sent=sent, guard=expected_version, url=url, log=self._log)

    def stats(self) -> ClientStats:
        with self._stats_lock:
            return ClientStats(
                attempts=self._transport.attempts,
                statuses=dict(self._transport.statuses),
                transport_errors=self._transport.transport_errors,
                retries=self._retries,
                token_fetches=self._tokens.fetch_count,
                retry_wait_seconds=self._retry_wait,
                pacing_wait_seconds=self._pacing_wait,
                read_backs=self._read_backs,
            )

    # --- plumbing ----------------------------------------------------------

    def _json(self, method: str, url: str, *, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One authenticated API call; a 2xx JSON object, or the typed error."""
        response, retries = self._exchange(method, url, body=body)
        path = urlsplit(url).path
        answer = decoded(response)
        if not 200 <= response.status_code < 300:
            if response.status_code in NO_ANSWER_STATUSES and not self._idempotent(method, None):
                raise OutcomeUnknown(f"{method} {path} got {response.status_code} from a proxy: the gateway behind it may have applied it", status=response.status_code, method=method, url=url)
            raise error_from_response(method=method, url=url, path=path, status=response.status_code, body=answer, retries=retries, scrub=self._scrub)
        if not isinstance(answer, dict):
            raise GatewayError(f"{method} {path} answered {response.status_code} with a body that is not a JSON object", status=response.status_code, method=method, url=url)
        return answer

    def _fetch_token(self) -> TokenGrant:
        url = f"{self.endpoint.login_url}{TOKEN_PATH}"
        response, retries = self._exchange(
            "POST",
            url,
            form={"grant_type": "client_credentials"},
            authenticated=False,
            # Asking for a token again is harmless (a second token, nothing else), so it is
            # retried like a GET; it is not paced: login is its own service with its own limits.
            idempotent=True,
            paced=False,
        )
        answer = decoded(response)
        if response.status_code == 200:
            return grant_from_answer(answer, login_url=self.endpoint.login_url)
        if response.status_code in (400, 401, 403):
            raise credentials_refused(response.status_code, answer, login_url=self.endpoint.login_url, scrub=self._scrub)
        raise error_from_response(method="POST", url=url, path=TOKEN_PATH, status=response.status_code, body=answer, retries=retries, scrub=self._scrub)

    def _idempotent(self, method: str, idempotent: bool | None) -> bool:
        return idempotent if idempotent is not None else method.upper() in self._retry.idempotent_methods

    def _exchange(
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
            token = self._tokens.get() if authenticated else None
            try:
                slot = self.pacer.acquire() if paced else None
            except Cancelled:
                raise self._cancelled(method, url, path, sent) from None
            if slot is not None and slot.waited:
                with self._stats_lock:
                    self._pacing_wait += slot.waited
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
                self._heard()
            else:
                result, headers, what = outcome, {}, describe_exception(outcome)
                silent_since = started if silent_since is None else silent_since
                sent = sent or not never_sent(outcome)
                self._unheard(started, what, unreachable=cause_of(outcome) is Cause.UNREACHABLE)
            cause = cause_of(result)
            if cause is Cause.UNAUTHORIZED and not authenticated:
                cause = None  # a 401 of the token endpoint is bad credentials, not an expired token
            if cause is None or not policy.is_retryable(method, result, idempotent=idempotent):
                return self._final(method, url, path, outcome, policy.retries, idempotent, silent_since)
            if cause is Cause.UNAUTHORIZED and token is not None:
                self._tokens.invalidate(token)
            policy = policy.increment(method, result)
            if policy.is_exhausted:
                return self._final(method, url, path, outcome, policy.retries - 1, idempotent, silent_since)
            wait = policy.next_wait(result, headers, self._rng)
            if silent_since is not None:
                budget = self._timeouts.connect_deadline if cause is Cause.UNREACHABLE and not self._answered else self._timeouts.deadline
                # until the gateway has answered once, the other threads' unanswered attempts spend the same budget
                since = min(silent_since, self._silent_since) if self._silent_since is not None and not self._answered else silent_since
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
                self._retries += 1
                self._retry_wait += wait
            if wait > 0:
                self._pause(wait, method, url, path, sent)

    def _heard(self) -> None:
        with self._stats_lock:
            self._answered = True
            self._silent_since = None
            self._silent_attempts = 0

    def _unheard(self, started: float, what: str, *, unreachable: bool) -> None:
        with self._stats_lock:
            if self._answered:
                return  # the breaker and each request's own deadline handle a gateway that answered before
            if self._silent_since is None:
                self._silent_since = started
            self._silent_attempts += 1
            self._silent_last = what
            self._silent_unreachable = self._silent_unreachable and unreachable

    def _given_up(self, method: str, url: str, path: str, *, now: bool = False) -> GatewayError | None:
        """The error for a request not sent because nothing has answered at the gateway's address
        for the whole budget (or ``now``, when the breaker refuses it); None while there is hope."""
        with self._stats_lock:
            if self._answered or self._silent_since is None:
                return None
            seconds = self._clock() - self._silent_since
            budget = self._timeouts.connect_deadline if self._silent_unreachable else self._timeouts.deadline
            if seconds < budget and not now and not self._abandoned:
                return None
            attempts, last = self._silent_attempts, self._silent_last
        return error_given_up(method=method, url=url, path=path, seconds=seconds, attempts=attempts, last=last, where=self.where(url))

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
        if not self._answered or since is None or self._clock() + wait - since > self._timeouts.deadline:
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
        with self._stats_lock:
            self._abandoned = not self._answered  # nothing ever answered and this request gave up: so does every later one
        if cause_of(outcome) is Cause.NO_ANSWER and not self._idempotent(method, idempotent):
            raise OutcomeUnknown(
                f"{method} {path}: no answer ({describe_exception(outcome)}) after the request may have reached the gateway at {self.where(url)}",
                method=method, url=url,
            ) from outcome
        seconds = self._clock() - silent_since if silent_since is not None else 0.0
        raise error_from_exception(method=method, url=url, path=path, error=outcome, retries=retries, where=self.where(url), seconds=seconds) from outcome

    def _scrub(self, text: str) -> str:
        """``text`` with the client secret masked, should a server ever echo it."""
        secret = self._credentials.client_secret
        return text.replace(secret, "***") if secret else text

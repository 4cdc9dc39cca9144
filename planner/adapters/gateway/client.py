"""The gateway client: typed calls over one pooled, paced, guarded HTTP session.

Every request goes through one loop (:meth:`~planner.adapters.gateway.requester.Requester.exchange`):

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
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from planner.adapters.gateway.auth import TokenCache, TokenGrant, credentials_refused, grant_from_answer
from planner.adapters.gateway.breaker import CircuitBreaker
from planner.adapters.gateway.endpoints import Credentials, Endpoint, is_loopback_url
from planner.adapters.gateway.failures import error_from_response
from planner.adapters.gateway.outcomes import put_until_known
from planner.adapters.gateway.pacing import Pacer
from planner.adapters.gateway.paging import MAX_PAGE_SIZE, list_models
from planner.adapters.gateway.requester import Requester
from planner.adapters.gateway.retry import NO_ANSWER_STATUSES, RetryPolicy
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
from planner.adapters.waiting import Cancellation
from planner.model.configuration import READ_ONLY_FIELDS
from planner.model.errors import GatewayError, NotFound, OutcomeUnknown

LOGGER_NAME = "llmplan.gateway"
TOKEN_PATH = "/oauth/token"
COOLDOWN_SECONDS = 30.0


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
        self._requests = Requester(
            self._transport, retry=self._retry, timeouts=self._timeouts, breaker=self.breaker, pacer=self.pacer, cancellation=self.cancellation,
            clock=clock, sleep=sleep, rng=rng or random.Random(), log=self._log, where=self.where,
        )
        self._tokens = TokenCache(self._fetch_token, clock=clock)
        self._requests.use_tokens(self._tokens)
        self._stats_lock = threading.Lock()
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
                retries=self._requests.retries,
                token_fetches=self._tokens.fetch_count,
                retry_wait_seconds=self._requests.retry_wait,
                pacing_wait_seconds=self._requests.pacing_wait,
                read_backs=self._read_backs,
            )

    # --- plumbing ----------------------------------------------------------

    def _json(self, method: str, url: str, *, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One authenticated API call; a 2xx JSON object, or the typed error."""
        response, retries = self._requests.exchange(method, url, body=body)
        path = urlsplit(url).path
        answer = decoded(response)
        if not 200 <= response.status_code < 300:
            if response.status_code in NO_ANSWER_STATUSES and not self._requests.idempotent(method, None):
                raise OutcomeUnknown(f"{method} {path} got {response.status_code} from a proxy: the gateway behind it may have applied it", status=response.status_code, method=method, url=url)
            raise error_from_response(method=method, url=url, path=path, status=response.status_code, body=answer, retries=retries, scrub=self._scrub)
        if not isinstance(answer, dict):
            raise GatewayError(f"{method} {path} answered {response.status_code} with a body that is not a JSON object", status=response.status_code, method=method, url=url)
        return answer

    def _fetch_token(self) -> TokenGrant:
        url = f"{self.endpoint.login_url}{TOKEN_PATH}"
        response, retries = self._requests.exchange(
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

    def _scrub(self, text: str) -> str:
        """``text`` with the client secret masked, should a server ever echo it."""
        secret = self._credentials.client_secret
        return text.replace(secret, "***") if secret else text

"""The gateway client: typed calls over one pooled, paced, guarded HTTP session.

Every request goes through one loop (:meth:`GatewayClient._exchange`):

    token (cached, single flight) → pacer slot → circuit breaker → send → slot back to the pacer
    → on 401/429/5xx/connection failure: ask the RetryPolicy, wait, again

urllib3's own retries are off (``max_retries=0``): with one loop the number
of requests the gateway sees is exactly what the policy allows, the pacer
and the breaker see every attempt, and a 401 can be retried with a new
Authorization header, which urllib3 cannot do.  The policy reuses urllib3's
``Retry-After`` parsing.

One client is shared by the apply engine's threads: the session's
connection pool holds ``parallelism`` connections and a semaphore keeps at
most that many requests in flight, so no thread ever opens a throwaway
connection.
"""

from __future__ import annotations

import http.cookiejar
import json
import logging
import random
import re
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from planner import __version__
from planner.configuration import READ_ONLY_FIELDS, Capabilities, canonical_json
from planner.errors import CircuitOpen, GatewayError, InvalidModelId, NotFound
from planner.gateway.auth import TokenCache, TokenGrant, credentials_refused, grant_from_answer
from planner.gateway.breaker import CircuitBreaker
from planner.gateway.endpoints import Credentials, Endpoint, is_loopback_url
from planner.gateway.guard import GuardedAdapter
from planner.gateway.failures import describe_exception, error_from_exception, error_from_response
from planner.gateway.pacing import Pacer, RateLimitInfo
from planner.gateway.retry import UNAVAILABLE_STATUSES, Cause, RetryPolicy, cause_of

LOGGER_NAME = "llmplan.gateway"
USER_AGENT = f"llmplan/{__version__}"
CORRELATION_HEADER = "ININ-Correlation-Id"
MODELS_PATH = "/api/v2/ai/models"
TOKEN_PATH = "/oauth/token"
MAX_PAGE_SIZE = 100
MAX_PARALLEL_PAGES = 10_000  # pages fetched side by side after the first (a million models)
UUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for a connection, and for each read of the answer."""

    connect: float = 5.0
    read: float = 15.0


@dataclass(frozen=True)
class GatewayModel:
    """A model as the gateway describes it.

    ``configuration`` is the JSON object as returned (with ``version``,
    ``modifiedDate``, ``selfUri``), or None when the model was never
    configured or the call did not ask for it.
    """

    id: str
    name: str
    capabilities: Capabilities
    configuration: dict[str, Any] | None


@dataclass(frozen=True)
class ClientStats:
    """Counters since the client was made: what was sent, what came back, how long we waited."""

    attempts: int
    statuses: Mapping[int, int]
    transport_errors: int
    retries: int
    token_fetches: int
    retry_wait_seconds: float
    pacing_wait_seconds: float


def check_model_id(model_id: str) -> str:
    """``model_id`` if it is a UUID in its usual 8-4-4-4-12 form; nothing else may enter a URL."""
    if not isinstance(model_id, str) or not UUID_PATTERN.match(model_id):
        shown = repr(model_id) if len(repr(model_id)) <= 60 else repr(model_id)[:57] + "..."
        raise InvalidModelId(f"model id {shown} is not a UUID")
    return model_id.lower()


class _BearerAuth(requests.auth.AuthBase):
    """Sets the bearer token; as an auth object it also keeps requests from applying ~/.netrc."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(***)"


def _redacted(headers: Mapping[str, str]) -> dict[str, str]:
    shown = {}
    for name, value in headers.items():
        if name.lower() == "authorization":
            scheme = value.split(" ", 1)[0] if value else ""
            shown[name] = f"{scheme} ***"
        else:
            shown[name] = value
    return shown


class GatewayClient:
    """The typed calls of the gateway API; thread-safe, one per process and gateway.

    ``clock`` and ``sleep`` drive every wait (retry backoff, pacing, token
    expiry, breaker cool-down); tests inject fakes.  ``pacer`` and ``breaker``
    may be passed to share or tune them.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        credentials: Credentials,
        *,
        parallelism: int = 10,
        retry: RetryPolicy = RetryPolicy(),
        timeouts: Timeouts = Timeouts(connect=5.0, read=15.0),
        breaker: CircuitBreaker | None = None,
        pacer: Pacer | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if parallelism < 1:
            raise ValueError("parallelism must be >= 1")
        self.endpoint = endpoint
        self.parallelism = parallelism
        self._credentials = credentials
        self._retry = retry
        self._timeouts = timeouts
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._log = logger or logging.getLogger(LOGGER_NAME)
        self.breaker = breaker or CircuitBreaker(clock=clock)
        self.pacer = pacer or Pacer(clock=clock, sleep=sleep)
        self._tokens = TokenCache(self._fetch_token, clock=clock)
        self._in_flight = threading.BoundedSemaphore(parallelism)
        self._session = self._make_session(parallelism, trust_env=not (is_loopback_url(endpoint.api_url) and is_loopback_url(endpoint.login_url)))
        self._stats_lock = threading.Lock()
        self._attempts = 0
        self._statuses: Counter[int] = Counter()
        self._transport_errors = 0
        self._retries = 0
        self._retry_wait = 0.0
        self._pacing_wait = 0.0

    @staticmethod
    def _make_session(parallelism: int, *, trust_env: bool) -> requests.Session:
        session = requests.Session()
        # Proxies from the environment apply to a remote gateway, never to the
        # loopback sandbox.  .netrc never applies: every request carries its own auth.
        session.trust_env = trust_env
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        # refuses a connection that reached a link-local or metadata address, whatever the DNS said
        adapter = GuardedAdapter(pool_connections=2, pool_maxsize=parallelism, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GatewayClient({self.endpoint.api_url!r}, client_id={self._credentials.client_id!r})"

    # --- typed calls -------------------------------------------------------

    def list_models(self, *, expand_configuration: bool = True, page_size: int = MAX_PAGE_SIZE) -> list[GatewayModel]:
        """Every model, page by page.

        The first page says how many pages there are (``pageCount``); the
        rest are fetched side by side, up to the client's parallelism, so
        1,000 models cost two round trips instead of ten.  Pages that appear
        meanwhile are followed along ``nextUri``; a model seen on two pages
        (the list shifted between reads) is listed once.  A gateway that does
        not say ``pageCount`` is followed along ``nextUri`` alone.
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        query: dict[str, Any] = {"pageSize": page_size, "pageNumber": 1}
        if expand_configuration:
            query["expand"] = "configuration"
        url: str | None = f"{self.endpoint.api_url}{MODELS_PATH}?{urlencode(query)}"
        seen: set[str] = set()
        models: list[GatewayModel] = []
        first = True
        while url is not None:
            if url in seen:
                raise GatewayError(f"the gateway's paging loops: nextUri {urlsplit(url).path}?{urlsplit(url).query} came twice", method="GET", url=url)
            seen.add(url)
            page = self._json("GET", url)
            models.extend(self._page_models(page, url, expand_configuration))
            next_uri = page.get("nextUri")
            page_count = page.get("pageCount")
            if first and next_uri and self.parallelism > 1 and type(page_count) is int and 2 <= page_count <= MAX_PARALLEL_PAGES:
                urls = [f"{self.endpoint.api_url}{MODELS_PATH}?{urlencode({**query, 'pageNumber': number})}" for number in range(2, page_count + 1)]
                seen.update(urls)
                with ThreadPoolExecutor(max_workers=min(self.parallelism, len(urls)), thread_name_prefix="llmplan-pages") as pool:
                    pages = list(pool.map(lambda page_url: self._json("GET", page_url), urls))
                for page_url, later_page in zip(urls, pages):
                    models.extend(self._page_models(later_page, page_url, expand_configuration))
                next_uri = pages[-1].get("nextUri")  # pages added since the first was read
            first = False
            url = self._next_page_url(next_uri, expand_configuration) if next_uri else None
        unique = {model.id.lower(): model for model in reversed(models)}  # the first reading of each model wins
        return [model for model in models if unique.get(model.id.lower()) is model]

    @staticmethod
    def _page_models(page: Mapping[str, Any], url: str, expand_configuration: bool) -> list[GatewayModel]:
        entities = page.get("entities")
        if not isinstance(entities, list):
            raise GatewayError(f"GET {MODELS_PATH} answered a page without entities", method="GET", url=url)
        return [_model_from_api(entity, with_configuration=expand_configuration, url=url) for entity in entities]

    def get_model(self, model_id: str) -> GatewayModel:
        """One model with its capabilities (``configuration`` is None)."""
        model_id = check_model_id(model_id)
        url = f"{self.endpoint.api_url}{MODELS_PATH}/{model_id}"
        return _model_from_api(self._json("GET", url), with_configuration=False, url=url)

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
        """Replace the configuration atomically; returns the applied configuration (the 200 body).

        Read-only fields in ``configuration`` are not sent; ``version`` is sent
        when ``expected_version`` is given, so the gateway refuses (409,
        :class:`~planner.errors.VersionConflict`) a PUT over a configuration
        that changed since it was read.
        """
        model_id = check_model_id(model_id)
        body = {key: value for key, value in configuration.items() if key not in READ_ONLY_FIELDS}
        if expected_version is not None:
            body["version"] = expected_version
        url = f"{self.endpoint.api_url}{MODELS_PATH}/{model_id}/configuration"
        return self._json("PUT", url, body=body)

    def stats(self) -> ClientStats:
        with self._stats_lock:
            return ClientStats(
                attempts=self._attempts,
                statuses=dict(self._statuses),
                transport_errors=self._transport_errors,
                retries=self._retries,
                token_fetches=self._tokens.fetch_count,
                retry_wait_seconds=self._retry_wait,
                pacing_wait_seconds=self._pacing_wait,
            )

    # --- plumbing ----------------------------------------------------------

    def _next_page_url(self, next_uri: Any, expand_configuration: bool) -> str:
        """``nextUri`` made absolute; it must stay on the API's origin (the token goes with it)."""
        api = urlsplit(self.endpoint.api_url)
        parts = urlsplit(str(next_uri))
        if (parts.scheme or parts.netloc) and (parts.scheme, parts.netloc) != (api.scheme, api.netloc):
            raise GatewayError(f"the gateway's nextUri points at another host ({parts.netloc}); not following it", method="GET", url=self.endpoint.api_url)
        if not parts.path.endswith(MODELS_PATH):
            raise GatewayError(f"the gateway's nextUri {parts.path} is not a models page", method="GET", url=self.endpoint.api_url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if expand_configuration and ("expand", "configuration") not in query:
            query.append(("expand", "configuration"))
        return urlunsplit((api.scheme, api.netloc, parts.path, urlencode(query), ""))

    def _json(self, method: str, url: str, *, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One authenticated API call; a 2xx JSON object, or the typed error."""
        response, retries = self._exchange(method, url, body=body)
        path = urlsplit(url).path
        decoded = _decoded(response)
        if not 200 <= response.status_code < 300:
            raise error_from_response(method=method, url=url, path=path, status=response.status_code, body=decoded, retries=retries, scrub=self._scrub)
        if not isinstance(decoded, dict):
            raise GatewayError(f"{method} {path} answered {response.status_code} with a body that is not a JSON object", status=response.status_code, method=method, url=url)
        return decoded

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
        decoded = _decoded(response)
        if response.status_code == 200:
            return grant_from_answer(decoded, login_url=self.endpoint.login_url)
        if response.status_code in (400, 401, 403):
            raise credentials_refused(response.status_code, decoded, login_url=self.endpoint.login_url, scrub=self._scrub)
        raise error_from_response(method="POST", url=url, path=TOKEN_PATH, status=response.status_code, body=decoded, retries=retries, scrub=self._scrub)

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
        """Send until an answer is final or the policy says stop; returns (last answer, retries).

        Raises CircuitOpen when the breaker refuses, GatewayUnavailable when a
        connection failure outlives the retries.  Any HTTP answer, error or
        not, is returned for the caller to interpret.
        """
        path = urlsplit(url).path
        correlation_id = str(uuid.uuid4())
        policy = self._retry
        data = canonical_json(body).encode("utf-8") if body is not None else None
        while True:
            token = self._tokens.get() if authenticated else None
            slot = self.pacer.acquire() if paced else None
            if slot is not None and slot.waited:
                with self._stats_lock:
                    self._pacing_wait += slot.waited
            try:
                outcome = self._send_once(method, url, path, data=data, form=form, token=token, correlation_id=correlation_id, attempt=policy.retries + 1)
            except CircuitOpen:
                if slot is not None:
                    self.pacer.cancel(slot)  # refused before sending
                raise
            except BaseException:
                if slot is not None:
                    self.pacer.release(slot, None)
                raise
            if slot is not None:
                # Every slot is given back, answered or not: the pacer counts it in flight until then.
                self.pacer.release(slot, RateLimitInfo.from_headers(outcome.headers) if isinstance(outcome, requests.Response) else None)
            result: int | BaseException
            if isinstance(outcome, requests.Response):
                result, headers, what = outcome.status_code, outcome.headers, str(outcome.status_code)
            else:
                result, headers, what = outcome, {}, describe_exception(outcome)
            cause = cause_of(result)
            if cause is Cause.UNAUTHORIZED and not authenticated:
                cause = None  # a 401 of the token endpoint is bad credentials, not an expired token
            if cause is None or not policy.is_retryable(method, result, idempotent=idempotent):
                return self._final(method, url, path, outcome, policy.retries)
            if cause is Cause.UNAUTHORIZED and token is not None:
                self._tokens.invalidate(token)
            policy = policy.increment(method, result)
            if policy.is_exhausted:
                return self._final(method, url, path, outcome, policy.retries - 1)
            wait = policy.next_wait(result, headers, self._rng)
            if cause is Cause.RATE_LIMITED and paced:
                # A 429 whose headers say the budget is spent stops every thread
                # until the window resets.  One that does not say so (another
                # limit, a passing fault) delays only this request: holding
                # everyone on it would let a few stray 429s stall a whole apply.
                if RateLimitInfo.from_headers(headers).exhausted:
                    self.pacer.hold(wait)
            self._log.info(
                "retrying %s %s in %.2f s after %s (retry %d; correlation id %s)",
                method, path, wait, what, policy.retries, correlation_id,
            )
            with self._stats_lock:
                self._retries += 1
                self._retry_wait += wait
            if wait > 0:
                self._sleep(wait)

    def _final(self, method: str, url: str, path: str, outcome: requests.Response | BaseException, retries: int) -> tuple[requests.Response, int]:
        if isinstance(outcome, requests.Response):
            return outcome, retries
        raise error_from_exception(method=method, url=url, path=path, error=outcome, retries=retries) from outcome

    def _send_once(
        self,
        method: str,
        url: str,
        path: str,
        *,
        data: bytes | None,
        form: Mapping[str, str] | None,
        token: str | None,
        correlation_id: str,
        attempt: int,
    ) -> requests.Response | requests.RequestException:
        """One attempt through the breaker; a transport failure is returned, not raised."""
        headers = {CORRELATION_HEADER: correlation_id}
        if data is not None:
            headers["Content-Type"] = "application/json"
        auth: requests.auth.AuthBase | tuple[str, str]
        if token is not None:
            auth = _BearerAuth(token)
        else:
            auth = (self._credentials.client_id, self._credentials.client_secret)
        probe = self.breaker.before_request()
        started = self._clock()
        try:
            with self._in_flight:
                response = self._session.request(
                    method,
                    url,
                    data=data if data is not None else form,
                    headers=headers,
                    auth=auth,
                    timeout=(self._timeouts.connect, self._timeouts.read),
                    allow_redirects=False,
                )
                response.content  # read the body inside the timeout and the in-flight bound
        except requests.RequestException as error:
            latency_ms = (self._clock() - started) * 1000
            if cause_of(error) is Cause.UNAVAILABLE:
                self.breaker.record_failure(describe_exception(error))
            else:
                self.breaker.record_abandoned(probe)
            self._count(None)
            self._log.debug(
                "%s %s -> %s after %.1f ms (attempt %d, correlation id %s, headers %s)",
                method, path, describe_exception(error), latency_ms, attempt, correlation_id,
                _redacted({**headers, "Authorization": "Bearer" if token else "Basic"}),
            )
            return error
        except BaseException:
            self.breaker.record_abandoned(probe)
            raise
        latency_ms = (self._clock() - started) * 1000
        if response.status_code in UNAVAILABLE_STATUSES:
            self.breaker.record_failure(f"{response.status_code} from {method} {path}")
        else:
            self.breaker.record_success()
        self._count(response.status_code)
        self._log.debug(
            "%s %s -> %d in %.1f ms (attempt %d, correlation id %s, headers %s)",
            method, path, response.status_code, latency_ms, attempt, correlation_id,
            _redacted({**headers, "Authorization": "Bearer" if token else "Basic"}),
        )
        return response

    def _count(self, status: int | None) -> None:
        with self._stats_lock:
            self._attempts += 1
            if status is None:
                self._transport_errors += 1
            else:
                self._statuses[status] += 1

    def _scrub(self, text: str) -> str:
        """``text`` with the client secret masked, should a server ever echo it."""
        secret = self._credentials.client_secret
        return text.replace(secret, "***") if secret else text


def _decoded(response: requests.Response) -> Any:
    try:
        return json.loads(response.content) if response.content else None
    except ValueError:
        return None


def _model_from_api(entity: Any, *, with_configuration: bool, url: str) -> GatewayModel:
    try:
        configuration = entity.get("configuration") if with_configuration else None
        return GatewayModel(
            id=str(entity["id"]),
            name=str(entity.get("name") or ""),
            capabilities=Capabilities.from_api(entity["capabilities"]),
            configuration=dict(configuration) if isinstance(configuration, Mapping) else None,
        )
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise GatewayError(f"the gateway answered a model the client cannot read ({type(error).__name__}: {error})", method="GET", url=url) from None

"""One attempt of one request: the pooled session, the in-flight bound, the breaker's bookkeeping.

:class:`Transport` sends exactly once and reports what happened (an answer,
or the transport failure as a value); the client's loop decides what to do
next.  Every attempt passes the circuit breaker first, tells it how it
ended, is registered with the answer watch while it is out (so a long wait
is said on stderr) and is counted.  Every attempt is one
:class:`~planner.adapters.gateway.deadline.Exchange`: connecting, sending and the
whole answer end within its budget, and at once when the client is cancelled.
"""

from __future__ import annotations

import http.cookiejar
import logging
import threading
import time
from collections import Counter
from typing import Callable, Mapping

import requests

from planner import __version__
from planner.adapters.gateway.breaker import CircuitBreaker
from planner.adapters.gateway.deadline import CANCELLED, DEADLINE, READ_TIMEOUT_MARGIN, Exchange
from planner.adapters.gateway.endpoints import Credentials
from planner.adapters.gateway.failures import describe_exception
from planner.adapters.gateway.guard import GuardedAdapter
from planner.adapters.gateway.retry import UNAVAILABLE_CAUSES, UNAVAILABLE_STATUSES, cause_of
from planner.adapters.gateway.watch import AnswerWatch
from planner.adapters.gateway.wire import BearerAuth, redacted
from planner.adapters.waiting import Cancellation
from planner.model.errors import Cancelled

USER_AGENT = f"llmplan/{__version__}"
CORRELATION_HEADER = "ININ-Correlation-Id"


class Transport:
    """Thread-safe; at most ``parallelism`` attempts in flight, on as many pooled connections."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        parallelism: int,
        trust_env: bool,
        breaker: CircuitBreaker,
        watch: AnswerWatch,
        cancellation: Cancellation,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger,
    ) -> None:
        self._credentials = credentials
        self.breaker = breaker
        self._watch = watch
        self._cancellation = cancellation
        self._clock = clock
        self._log = log
        self._in_flight = threading.BoundedSemaphore(parallelism)
        self._session = _session(parallelism, trust_env=trust_env)
        self._lock = threading.Lock()
        self.attempts = 0
        self.statuses: Counter[int] = Counter()
        self.transport_errors = 0

    def close(self) -> None:
        self._watch.close()
        self._session.close()

    def send(
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
        connect: float,
        budget: float,
        awaited: str,
    ) -> requests.Response | requests.RequestException:
        """One attempt through the breaker (which may raise CircuitOpen); a transport failure is returned, not raised.

        The attempt ends within ``budget`` seconds, connecting (at most
        ``connect`` of it), sending and reading the whole answer; cut off, it
        returns :class:`~planner.adapters.gateway.deadline.ConnectDeadline` or
        :class:`~planner.adapters.gateway.deadline.AnswerDeadline`.  Cancelled, it
        raises :class:`~planner.adapters.gateway.Cancelled`.  ``awaited``
        names what a long wait is for, for the answer watch.
        """
        headers = {CORRELATION_HEADER: correlation_id}
        if data is not None:
            headers["Content-Type"] = "application/json"
        auth: requests.auth.AuthBase | tuple[str, str]
        auth = BearerAuth(token) if token is not None else (self._credentials.client_id, self._credentials.client_secret)
        shown = redacted({**headers, "Authorization": "Bearer" if token else "Basic"})
        probe = self.breaker.before_request()
        started = self._clock()
        ticket = self._watch.begin(awaited, budget)
        answered = False
        failure: requests.RequestException | None = None
        try:
            with self._in_flight:
                if self._cancellation.cancelled:
                    raise Cancelled(f"{method} {path} was not sent: {self._cancellation.reason}", method=method, url=url)
                with Exchange(budget, cancellation=self._cancellation) as exchange:
                    try:
                        response = self._session.request(
                            method, url, data=data if data is not None else form, headers=headers, auth=auth,
                            timeout=(min(connect, budget), budget + READ_TIMEOUT_MARGIN), allow_redirects=False,
                        )
                        _ = response.content  # the whole body, inside the exchange's deadline and the in-flight bound
                    except requests.RequestException as error:
                        failure = error
                if exchange.cut_by == CANCELLED:
                    raise Cancelled(f"{method} {path} was cancelled: {self._cancellation.reason}", sent=exchange.sent, method=method, url=url)
                if exchange.cut_by == DEADLINE:
                    # whatever the shut socket made urllib3 say (even a body that seemed to end), the deadline ended it
                    failure = exchange.failure()
                answered = failure is None
        except BaseException:
            self.breaker.record_abandoned(probe)
            raise
        finally:
            self._watch.end(ticket, answered=answered)
        if failure is not None:
            if cause_of(failure) in UNAVAILABLE_CAUSES:
                self.breaker.record_failure(describe_exception(failure))
            else:
                self.breaker.record_abandoned(probe)
            self._count(None)
            self._log.debug(
                "%s %s -> %s after %.1f ms (attempt %d, correlation id %s, headers %s)",
                method, path, describe_exception(failure), (self._clock() - started) * 1000, attempt, correlation_id, shown,
            )
            return failure
        if response.status_code in UNAVAILABLE_STATUSES:
            self.breaker.record_failure(f"{response.status_code} from {method} {path}")
        else:
            self.breaker.record_success()
        self._count(response.status_code)
        self._log.debug(
            "%s %s -> %d in %.1f ms (attempt %d, correlation id %s, headers %s)",
            method, path, response.status_code, (self._clock() - started) * 1000, attempt, correlation_id, shown,
        )
        return response

    def _count(self, status: int | None) -> None:
        with self._lock:
            self.attempts += 1
            if status is None:
                self.transport_errors += 1
            else:
                self.statuses[status] += 1


def _session(parallelism: int, *, trust_env: bool) -> requests.Session:
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

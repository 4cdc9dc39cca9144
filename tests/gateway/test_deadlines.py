"""Fail fast, never silent: how long the client keeps trying a gateway that
does not answer, what its error says, and the one line it prints for every
wait longer than a few seconds.  Fake clocks wherever time is only counted;
real sockets where the network has to misbehave."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from planner.adapters import waiting
from planner.adapters.gateway.breaker import CircuitBreaker
from planner.adapters.gateway.client import GatewayClient, Timeouts
from planner.adapters.gateway.endpoints import Credentials, Endpoint
from planner.adapters.gateway.pacing import Pacer, RateLimitInfo
from planner.adapters.gateway.retry import RetryPolicy
from planner.adapters.gateway.watch import AnswerWatch
from planner.model.errors import GatewayUnavailable

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
SOURCE = "from gateway.base_url in environments/dev/environment.yaml"


@pytest.fixture
def said() -> Iterator[list[str]]:
    """The lines llmplan would print on stderr about its waits."""
    lines: list[str] = []
    waiting.redirect(lines.append)
    yield lines
    waiting.redirect(None)


class Largest(random.Random):
    """Full jitter at its largest: every backoff is its cap."""

    def uniform(self, a: float, b: float) -> float:
        return b


def client_for(url: str, *, clock: Any = time.monotonic, sleep: Any = time.sleep, **options: Any) -> GatewayClient:
    return GatewayClient(Endpoint(url, url), Credentials("sandbox", "sandbox-secret"), clock=clock, sleep=sleep, source=SOURCE, **options)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- deadlines ------------------------------------------------------------------------------------


def test_a_refused_gateway_is_given_up_within_5_s_and_the_error_names_the_url_and_its_source(clock: Any, said: list[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    client = client_for(url, clock=clock, sleep=clock.sleep, rng=Largest())
    with pytest.raises(GatewayUnavailable) as caught, client:
        client.get_model(SUPPORT)
    message = str(caught.value)
    assert message.startswith("gateway unavailable: POST /oauth/token failed after ")
    assert "(connection refused) in " in message and message.endswith(f"; the gateway is {url} ({SOURCE})")
    assert "--gateway-timeout" in (caught.value.hint or "")
    assert sum(clock.sleeps) < 5.0  # backoffs 0.5, 1, 2: the next (4) would pass the 5 s of a never-answered gateway
    assert client.stats().attempts == 4


def test_once_the_gateway_answered_a_refused_connection_is_retried_up_to_the_deadline(make_sandbox: Callable[..., Any], clock: Any, said: list[str]) -> None:
    sandbox = make_sandbox(rate_limit=100_000)
    client = client_for(sandbox.url, clock=clock, sleep=clock.sleep, rng=Largest(), timeouts=Timeouts(deadline=12), retry=RetryPolicy(unavailable=20, total=30))
    with client:
        client.get_model(SUPPORT)  # it exists
        sandbox.stop()  # and then it is gone
        with pytest.raises(GatewayUnavailable, match="connection refused"):
            client.get_model(SUPPORT)
    assert 7.0 <= sum(clock.sleeps) < 12.0  # 0.5 + 1 + 2 + 4 = 7.5; the next 8 would pass the 12 s deadline
    assert "waiting 4.0 s for the next attempt of GET /api/v2/ai/models/" in said[-1]


def test_a_gateway_that_never_answers_fails_at_the_deadline_not_after_every_retry(said: list[str]) -> None:
    with socket.socket() as silent:  # the kernel accepts the connection; nobody ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(GatewayUnavailable) as caught, client_for(url, timeouts=Timeouts(deadline=1.0)) as client:
            client.get_model(SUPPORT)
        elapsed = time.monotonic() - started
    assert "POST /oauth/token failed (no complete answer within 1.0 s) in 1.0 s" in str(caught.value) and url in str(caught.value)
    assert elapsed < 10  # one attempt of at most the deadline (1 s), not 9 attempts of 15 s


def test_each_attempt_waits_at_most_what_is_left_of_the_deadline() -> None:
    assert Timeouts().deadline == 30 and Timeouts().connect_deadline == 5
    assert Timeouts(deadline=2).connect_deadline == 2
    with pytest.raises(ValueError):
        Timeouts(deadline=0)


# --- the waiting lines ------------------------------------------------------------------------


def test_a_long_backoff_is_said_in_one_line(gateway: Any, admin: Any, clock: Any, said: list[str]) -> None:
    admin.faults(rules=[{"match": {"method": "GET"}, "effect": "status", "status": 503, "count": 3}])
    with client_for(gateway.url, clock=clock, sleep=clock.sleep, rng=Largest()) as client:
        assert client.get_model(SUPPORT).name == "claude-support"
    assert clock.sleeps == [0.5, 1.0, 2.0]  # none over 3 s: nothing said
    assert said == []
    admin.faults(rules=[{"match": {"method": "GET"}, "effect": "status", "status": 503, "retry_after": 4, "count": 1}])
    with client_for(gateway.url, clock=clock, sleep=clock.sleep) as client:
        client.get_model(SUPPORT)
    assert said == [f"waiting 4.0 s for the next attempt of GET /api/v2/ai/models/{SUPPORT} (after 503; retry 1)"]


def test_an_open_breaker_is_waited_for_once_and_said_while_the_outage_is_younger_than_the_deadline(gateway: Any, admin: Any, clock: Any, said: list[str]) -> None:
    breaker = CircuitBreaker(failure_threshold=2, cooldown_seconds=5, clock=clock)
    with client_for(gateway.url, clock=clock, sleep=clock.sleep, breaker=breaker, retry=RetryPolicy(unavailable=2, backoff_base=0.01)) as client:
        client.get_model(SUPPORT)  # the token, before the outage
        admin.faults(rules=[{"match": {"method": "GET"}, "effect": "status", "status": 503, "count": 2}])
        assert client.get_model(SUPPORT).name == "claude-support"  # two 503s open it; the probe after 5 s finds it back
        assert [entry["status"] for entry in admin.requests(method="GET")][-3:] == [503, 503, 200]
    assert said == [f"waiting 5.0 s for the gateway to recover (circuit breaker open after 2 consecutive failures, last: 503 from GET /api/v2/ai/models/{SUPPORT})"]
    assert breaker.state == "closed"


def test_an_outage_older_than_the_deadline_fails_at_once(gateway: Any, admin: Any, clock: Any, said: list[str]) -> None:
    breaker = CircuitBreaker(failure_threshold=2, cooldown_seconds=5, clock=clock)
    with client_for(gateway.url, clock=clock, sleep=clock.sleep, breaker=breaker, timeouts=Timeouts(deadline=4), retry=RetryPolicy(unavailable=2, backoff_base=0.01)) as client:
        client.get_model(SUPPORT)
        admin.faults(rules=[{"match": {"method": "GET"}, "effect": "status", "status": 503}])
        with pytest.raises(GatewayUnavailable, match="consecutive failures"):
            client.get_model(SUPPORT)
    assert said == []  # a 5 s cool-down does not fit in a 4 s deadline: no wait, no line


def test_the_rate_limit_window_is_said_once_per_window_end_however_many_wait(clock: Any, said: list[str]) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    slot = pacer.acquire()
    pacer.release(slot, RateLimitInfo(allowed=40, count=40, reset=12))  # the budget is spent
    clock.advance(0.3)
    for _ in range(3):  # three threads, one after the other, all held by the same window end
        pacer.cancel(pacer.acquire())
    assert said == ["waiting 11.8 s for the gateway's rate-limit window (40 requests per 12 s)"]
    pacer.hold(2.0)  # a short hold says nothing
    assert len(said) == 1


def test_an_answer_that_keeps_us_waiting_is_said_once_per_spell(clock: Any) -> None:
    lines: list[str] = []
    watch = AnswerWatch(clock=clock, say=lines.append, poll=None)
    gateway = "the gateway at https://api.example.com (from gateway.region us-east-1 in environments/prod/environment.yaml)"
    first = watch.begin(f"{gateway} to answer POST /oauth/token", 20.0)
    clock.advance(2.9)
    assert watch.check() is None  # not yet 3 s
    second = watch.begin(f"{gateway} to answer GET /api/v2/ai/models", 20.0)
    clock.advance(0.2)
    assert watch.check() == f"waiting up to 16.9 s more for {gateway} to answer POST /oauth/token"  # the oldest
    clock.advance(5)
    assert watch.check() is None  # one line per spell
    watch.end(first, answered=False)
    watch.end(second, answered=True)  # an answer ends the spell
    watch.begin(f"{gateway} to answer GET /api/v2/ai/models", 20.0)
    clock.advance(3)
    assert watch.check() is not None and len(lines) == 2

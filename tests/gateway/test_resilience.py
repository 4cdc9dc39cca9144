"""Tokens, retries, pacing and the breaker against the real sandbox with injected faults.

Requests are counted in the sandbox's own request log, so "retried once"
means the gateway saw exactly two requests.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Callable

import pytest
import requests

from planner.adapters.gateway.breaker import CircuitBreaker
from planner.adapters.gateway.client import Timeouts
from planner.adapters.gateway.retry import RetryPolicy
from planner.model.errors import AuthenticationFailed, CircuitOpen, GatewayUnavailable, RateLimited

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
SUMMARIZER = "b2c3d4e5-f6a7-4890-9bcd-ef1234567891"
CONFIG_PATH = f"/api/v2/ai/models/{SUPPORT}/configuration"


def configuration(model_id: str = SUPPORT, max_tokens: int = 2048) -> dict[str, Any]:
    return {
        "model_id": model_id,
        "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.3},
        "safety_filters": [{"filter_type": "pii", "action": "redact", "threshold": 85}],
        "max_tokens": max_tokens,
        "compliance_mode": "strict",
    }


def by_correlation(entries: list[dict[str, Any]]) -> Counter[str]:
    return Counter(entry["correlation_id"] for entry in entries)


def seconds(entry: dict[str, Any]) -> float:
    return datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()


# --- the token ----------------------------------------------------------------


def test_the_token_is_fetched_once_and_reused(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    client = make_client(gateway)
    for _ in range(5):
        client.get_model(SUPPORT)
    client.put_configuration(SUPPORT, configuration(), None)
    assert len(admin.token_requests()) == 1
    assert client.stats().token_fetches == 1


def test_the_token_is_refreshed_a_minute_before_it_expires(gateway: Any, admin: Any, make_client: Callable[..., Any], clock: Any) -> None:
    client = make_client(gateway, clock=clock, sleep=clock.sleep)
    client.get_model(SUPPORT)  # the sandbox grants 86,400 s
    clock.advance(86_400 - 61)
    client.get_model(SUPPORT)
    assert len(admin.token_requests()) == 1
    clock.advance(1)
    client.get_model(SUPPORT)
    assert len(admin.token_requests()) == 2
    assert all(entry["status"] == 200 for entry in admin.requests())  # refreshed before any 401


def test_a_token_revoked_mid_run_is_replaced_once_and_the_run_goes_on(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    client = make_client(gateway, parallelism=8)
    client.get_model(SUPPORT)
    admin._http.delete(f"{gateway.url}/__sandbox/tokens", timeout=5).raise_for_status()  # every token dies at once
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: client.get_model(SUPPORT).name, range(16)))
    assert results == ["claude-support"] * 16
    assert len(admin.token_requests()) == 2  # the first token and one replacement, however many threads saw 401
    statuses = Counter(entry["status"] for entry in admin.requests(path_contains="/api/v2/"))
    assert statuses[200] == 17
    assert 1 <= statuses[401] <= 8  # at most the requests in flight when the token died


def test_a_short_token_lifetime_is_survived(make_sandbox: Any, admin: Any, make_client: Callable[..., Any], clock: Any) -> None:
    # sandbox and client share a fake clock: 1.2 s pass in steps of 0.1 s however busy the machine is
    sandbox = make_sandbox(rate_limit=100_000, token_lifetime_seconds=1, clock=clock)
    client = make_client(sandbox, clock=clock, sleep=clock.sleep)
    deadline = clock() + 1.2
    calls = 0
    while clock() < deadline:  # keep calling across at least one expiry
        client.get_model(SUPPORT)
        calls += 1
        clock.advance(0.1)
    assert calls > 10
    assert client.stats().token_fetches >= 3  # refreshed halfway through each 1 s lifetime


def test_a_401_is_retried_once_with_a_new_token_then_fails_without_a_loop(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    admin.faults(rules=[{"match": {"path": "/api/v2/ai/models/*"}, "effect": "status", "status": 401}])
    client = make_client(gateway)
    with pytest.raises(AuthenticationFailed) as caught:
        client.get_model(SUPPORT)
    assert caught.value.status == 401
    assert "check the client id and secret" in str(caught.value)
    api = admin.requests(path_contains="/api/v2/")
    assert len(api) == 2 and len(by_correlation(api)) == 1  # one call, two requests
    assert len(admin.token_requests()) == 2  # the first token, and one fresh one


def test_bad_credentials_fail_at_once_with_what_to_check(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    client = make_client(gateway, credentials=("sandbox", "wrong-secret"))
    with pytest.raises(AuthenticationFailed) as caught:
        client.get_model(SUPPORT)
    message = str(caught.value)
    assert "invalid_client" in message
    assert "check the client id and secret" in message and "scopes" in message
    assert caught.value.hint and "GENESYSCLOUD_OAUTHCLIENT_ID" in caught.value.hint
    assert len(admin.token_requests()) == 1  # a refused token request is not retried
    assert admin.requests(path_contains="/api/v2/") == []


def test_twenty_threads_needing_a_token_cause_one_token_request(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    admin.faults(rules=[{"match": {"path": "/oauth/token"}, "effect": "slow_body", "delay_ms": 200, "count": 1}])
    client = make_client(gateway, parallelism=20)
    with ThreadPoolExecutor(20) as pool:
        names = list(pool.map(lambda _: client.get_model(SUMMARIZER).name, range(20)))
    assert names == ["gpt-summarizer"] * 20
    assert len(admin.token_requests()) == 1


# --- 429 ------------------------------------------------------------------------


def test_a_429_storm_ends_with_every_request_applied(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    admin.faults(seed=7, rules=[{"match": {"method": "PUT"}, "effect": "status", "status": 429, "retry_after": 0, "share": 0.5}])
    client = make_client(gateway, parallelism=8)
    models = [model.id for model in client.list_models(expand_configuration=False)]
    work = [(model_id, tokens) for model_id in models for tokens in (1000, 1001, 1002)]
    with ThreadPoolExecutor(8) as pool:
        applied = list(pool.map(lambda item: client.put_configuration(item[0], configuration(*item), None)["max_tokens"], work))
    assert applied == [tokens for _, tokens in work]
    puts = admin.requests(method="PUT")
    statuses = Counter(entry["status"] for entry in puts)
    assert statuses[200] == len(work)
    assert statuses[429] >= 3  # the storm did happen
    assert max(by_correlation(puts).values()) <= 1 + RetryPolicy().rate_limited


def test_waits_honour_retry_after(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    admin.faults(rules=[{"effect": "status", "status": 429, "retry_after": 1, "count": 1}])
    client = make_client(gateway)
    started = time.monotonic()
    client.get_model(SUPPORT)
    assert time.monotonic() - started >= 1.0
    first, second = admin.requests(path_contains="/api/v2/")
    assert (first["status"], second["status"]) == (429, 200)
    assert seconds(second) - seconds(first) >= 0.95  # the log has millisecond timestamps


def test_429s_beyond_the_budget_raise_rate_limited_after_a_bounded_number_of_attempts(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    admin.faults(rules=[{"effect": "status", "status": 429}])  # no Retry-After: backoff
    client = make_client(gateway, retry=RetryPolicy(rate_limited=3, backoff_base=0.01, backoff_cap=0.02))
    with pytest.raises(RateLimited) as caught:
        client.get_model(SUPPORT)
    assert "after 4 attempts" in str(caught.value)
    assert len(admin.requests(path_contains="/api/v2/")) == 4


def test_the_pacer_keeps_a_run_under_the_gateways_budget(make_sandbox: Any, make_client: Callable[..., Any]) -> None:
    sandbox = make_sandbox(rate_limit=20, rate_window_seconds=1.0)
    client = make_client(sandbox, parallelism=16)
    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        names = list(pool.map(lambda _: client.get_model(SUPPORT).name, range(60)))
    elapsed = time.monotonic() - started
    assert names == ["claude-support"] * 60
    assert client.pacer.budget == (20, 1.0)
    log = requests.get(f"{sandbox.url}/__sandbox/requests", timeout=5).json()["requests"]
    # The sandbox refuses a window's 21st request: none was sent, 16 threads notwithstanding.
    assert Counter(entry["status"] for entry in log if entry["path"].startswith("/api/v2/")) == {200: 60}
    assert elapsed >= 2.0  # 60 requests at 20 per window need three windows, whoever sends them


def test_a_plan_of_a_few_models_is_not_paced_under_the_default_budget(make_sandbox: Any, make_client: Callable[..., Any]) -> None:
    sandbox = make_sandbox()  # 300 requests per 60 s, as the contract's default
    client = make_client(sandbox, parallelism=10)
    models = [model.id for model in client.list_models(expand_configuration=False)][:5]
    started = time.monotonic()
    with ThreadPoolExecutor(10) as pool:  # as a plan reads live state: two GETs per model, all at once
        list(pool.map(client.get_model, models))
        list(pool.map(client.get_configuration, models))
    elapsed = time.monotonic() - started
    assert len(models) == 5
    assert client.stats().pacing_wait_seconds == 0.0  # the budget allows them all: nobody waits
    assert elapsed < 1.0  # a steady pace of 300 a minute would take 2 s


# --- 503, connections, timeouts, the breaker ------------------------------------


def test_a_503_window_is_ridden_out(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    admin.faults(rules=[{"match": {"method": "PUT"}, "effect": "status", "status": 503, "count": 4}])
    client = make_client(gateway)
    assert client.put_configuration(SUPPORT, configuration(), None)["version"] == 1
    puts = admin.requests(method="PUT")
    assert [entry["status"] for entry in puts] == [503, 503, 503, 503, 200]
    assert len(by_correlation(puts)) == 1


def test_a_gateway_down_for_longer_than_the_retries_is_reported_unavailable(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    admin.faults(rules=[{"effect": "status", "status": 503}])
    client = make_client(gateway, retry=RetryPolicy(unavailable=2, backoff_base=0.01, backoff_cap=0.02))
    with pytest.raises(GatewayUnavailable) as caught:
        client.get_model(SUPPORT)
    assert str(caught.value).startswith("gateway unavailable: GET")
    assert "after 3 attempts" in str(caught.value)
    assert len(admin.requests(path_contains="/api/v2/")) == 3


def test_a_long_outage_opens_the_breaker_which_fails_fast_then_a_probe_recovers(gateway: Any, admin: Any, make_client: Callable[..., Any], clock: Any) -> None:
    client = make_client(gateway, clock=clock, sleep=clock.sleep, parallelism=4, breaker=CircuitBreaker(failure_threshold=5, cooldown_seconds=30, clock=clock))
    client.get_model(SUPPORT)  # the token, before the outage
    admin.faults(rules=[{"effect": "status", "status": 503}])
    outcomes: list[BaseException] = []
    lock = threading.Lock()

    def put(index: int) -> None:
        try:
            client.put_configuration(SUPPORT, configuration(max_tokens=1000 + index), None)
        except GatewayUnavailable as error:
            with lock:
                outcomes.append(error)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put, range(40)))
    assert len(outcomes) == 40
    assert sum(isinstance(error, CircuitOpen) for error in outcomes) >= 30  # most never left the client
    sent = admin.requests(method="PUT")
    assert len(sent) <= 5 + 4  # the threshold, plus requests already in flight
    assert str(next(e for e in outcomes if isinstance(e, CircuitOpen))).startswith("gateway unavailable: 5 consecutive failures")

    admin.clear_faults()
    with pytest.raises(CircuitOpen):
        client.get_model(SUPPORT)  # still cooling down: nothing sent
    clock.advance(30)
    assert client.get_model(SUPPORT).name == "claude-support"  # the probe
    assert client.breaker.state == "closed"
    assert client.put_configuration(SUPPORT, configuration(), None)["max_tokens"] == 2048


def test_a_dropped_get_is_retried_and_a_dropped_put_is_read_back_before_it_is_resent(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    admin.faults(rules=[{"effect": "drop", "count": 2}])
    client = make_client(gateway)
    assert client.get_model(SUPPORT).name == "claude-support"
    admin.faults(rules=[{"match": {"method": "PUT"}, "effect": "drop", "count": 2}])
    applied = client.apply_configuration(SUPPORT, configuration(), 0)
    assert (applied.configuration["version"], applied.read_back, applied.resends) == (1, True, 2)
    log = [(entry["method"], entry["status"]) for entry in admin.requests(path_contains=CONFIG_PATH)]
    # a dropped PUT may have landed: each is read back (not configured yet: 404) before the guarded resend
    assert log == [("PUT", None), ("GET", 404), ("PUT", None), ("GET", 404), ("PUT", 200)]
    assert client.stats().read_backs == 2


def test_a_dropped_token_request_is_retried(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    admin.faults(rules=[{"match": {"path": "/oauth/token"}, "effect": "drop", "count": 1}])
    client = make_client(gateway)
    assert client.get_model(SUPPORT).name == "claude-support"
    assert [entry["status"] for entry in admin.token_requests()] == [None, 200]


def test_a_put_whose_answer_is_too_slow_is_read_back_not_resent(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    client = make_client(gateway, timeouts=Timeouts(connect=1.0, attempt=0.3))
    client.get_model(SUPPORT)  # the token first, so only the API call is slowed
    admin.faults(rules=[{"match": {"method": "PUT"}, "effect": "slow_body", "delay_ms": 60_000, "count": 1}])
    started = time.monotonic()
    applied = client.apply_configuration(SUPPORT, configuration(), 0)
    assert time.monotonic() - started < 30  # gave up on the slow answer long before its 60 s
    assert (applied.configuration["version"], applied.read_back, applied.resends) == (1, True, 0)  # it had landed
    assert len(admin.requests(method="PUT")) == 1


def test_a_gateway_slower_than_the_timeout_is_reported_unavailable_in_bounded_time(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    client = make_client(gateway, timeouts=Timeouts(connect=1.0, attempt=0.2), retry=RetryPolicy(unavailable=1, backoff_base=0.01, backoff_cap=0.01))
    client.get_model(SUPPORT)
    admin.faults(latency_ms=60_000)
    started = time.monotonic()
    with pytest.raises(GatewayUnavailable, match="after 2 attempts \\(no complete answer within 0.2 s\\)"):
        client.get_model(SUPPORT)
    assert time.monotonic() - started < 30  # two read timeouts of 0.2 s, not two answers a minute late


# --- concurrency ------------------------------------------------------------------


def test_sixteen_threads_share_one_token_one_pacer_and_the_pool(gateway: Any, admin: Any, make_client: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="urllib3")
    client = make_client(gateway, parallelism=10)
    models = [model.id for model in client.list_models(expand_configuration=False)]
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        barrier.wait(timeout=10)
        try:
            for round_ in range(5):
                model_id = models[(index + round_) % len(models)]
                client.get_model(model_id)
        except BaseException as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(admin.token_requests()) == 1
    assert client.pacer.budget == (100_000, 60.0)  # one pacer learnt the budget from everyone's answers
    assert client.stats().attempts == 1 + 1 + 80  # token, listing, the calls: no retry
    assert not [record for record in caplog.records if "Connection pool is full" in record.getMessage()]


# --- the waits themselves, on a fake clock (nothing really sleeps) -------------------


def test_retry_waits_follow_the_gateway_and_the_policy(gateway: Any, admin: Any, make_client: Callable[..., Any], clock: Any) -> None:
    class HalfwayRandom(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return (a + b) / 2

    policy = RetryPolicy(backoff_base=0.5, backoff_cap=1.5)
    client = make_client(gateway, clock=clock, sleep=clock.sleep, retry=policy, rng=HalfwayRandom())
    client.get_model(SUPPORT)
    admin.faults(rules=[
        {"effect": "status", "status": 429, "retry_after": 7, "count": 1},
        {"effect": "status", "status": 503, "count": 4},
    ])
    clock.sleeps.clear()
    client.get_model(SUPPORT)
    # Retry-After exactly, then half of each capped exponential ceiling 0.5, 1, 1.5, 1.5.
    # (The pacer never sleeps here: the sandbox's budget of 100,000 is far from spent.)
    assert clock.sleeps == [7.0, 0.25, 0.5, 0.75, 0.75]

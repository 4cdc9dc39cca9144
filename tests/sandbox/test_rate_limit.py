"""The per-client window budget and its headers, with a clock the test moves."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import requests

from planner.sandbox.faults import RateLimiter

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
MODEL = f"/api/v2/ai/models/{SUPPORT}"


def limits(response: requests.Response) -> tuple[int, int, int]:
    headers = response.headers
    return int(headers["inin-ratelimit-allowed"]), int(headers["inin-ratelimit-count"]), int(headers["inin-ratelimit-reset"])


@pytest.fixture
def limited(make_sandbox: Callable[..., Any], make_api: Callable[..., Any], clock: Any) -> tuple[Any, Any]:
    sandbox = make_sandbox(rate_limit=5, rate_window_seconds=60, clock=clock)
    return sandbox, make_api(sandbox)


def test_each_answer_tells_budget_count_and_seconds_to_reset(limited: tuple[Any, Any], clock: Any) -> None:
    _, api = limited
    assert limits(api.get(MODEL)) == (5, 1, 60)
    clock.advance(10.2)
    assert limits(api.get(MODEL)) == (5, 2, 50)  # 49.8 s left, rounded up
    clock.advance(49.5)
    assert limits(api.get(MODEL)) == (5, 3, 1)  # 0.3 s left still says 1


def test_over_budget_is_429_with_retry_after_until_the_window_resets(limited: tuple[Any, Any], clock: Any) -> None:
    _, api = limited
    for _ in range(5):
        assert api.get(MODEL).status_code == 200
    clock.advance(20)
    refused = api.get(MODEL)
    assert refused.status_code == 429
    assert refused.json()["code"] == "too.many.requests"
    assert refused.headers["Retry-After"] == "40"
    assert limits(refused) == (5, 6, 40)
    clock.advance(40)
    fresh = api.get(MODEL)
    assert fresh.status_code == 200
    assert limits(fresh) == (5, 1, 60)


def test_error_answers_carry_the_headers_and_count(limited: tuple[Any, Any]) -> None:
    sandbox, api = limited
    unknown = api.get("/api/v2/ai/models/00000000-0000-4000-8000-000000000000")
    assert unknown.status_code == 404
    assert limits(unknown) == (5, 1, 60)
    bad = api.get("/api/v2/ai/models?pageSize=0")
    assert bad.status_code == 400
    assert limits(bad)[1] == 2
    unauthenticated = requests.get(f"{sandbox.url}{MODEL}", timeout=5)
    assert unauthenticated.status_code == 401
    assert limits(unauthenticated)[0] == 5


def test_clients_have_separate_budgets(limited: tuple[Any, Any], make_api: Callable[..., Any]) -> None:
    sandbox, api = limited
    for _ in range(6):
        api.get(MODEL)
    assert api.get(MODEL).status_code == 429
    reader = make_api(sandbox, "sandbox-readonly", "sandbox-readonly-secret")
    response = reader.get(MODEL)
    assert response.status_code == 200
    assert limits(response)[1] == 1


def test_token_docs_and_admin_requests_do_not_count(limited: tuple[Any, Any]) -> None:
    sandbox, api = limited
    for _ in range(3):
        api.fetch_token()
        requests.get(f"{sandbox.url}/__sandbox/requests", timeout=5)
        docs = requests.get(f"{sandbox.url}/api/v2/docs/openapi.json", timeout=5)
        assert "inin-ratelimit-count" not in docs.headers
    assert limits(api.get(MODEL))[1] == 1


def test_the_budget_can_be_changed_at_run_time(limited: tuple[Any, Any]) -> None:
    sandbox, api = limited
    requests.post(f"{sandbox.url}/__sandbox/faults", json={"rate_limit": {"requests": 2, "window_seconds": 1}}, timeout=5).raise_for_status()
    assert [api.get(MODEL).status_code for _ in range(3)] == [200, 200, 429]
    assert limits(api.get(MODEL))[:2] == (2, 4)
    requests.delete(f"{sandbox.url}/__sandbox/faults", timeout=5).raise_for_status()  # back to 5 per 60 s, fresh window
    assert limits(api.get(MODEL)) == (5, 1, 60)


# --- the limiter alone ---------------------------------------------------------------------


def test_the_limiter_opens_a_window_at_a_clients_first_request(clock: Any) -> None:
    limiter = RateLimiter(budget=2, window_seconds=10, clock=clock)
    assert limiter.hit("a").allowed
    clock.advance(5)
    assert limiter.hit("b").reset_header() == 10  # b's window starts now
    assert limiter.hit("a").reset_header() == 5
    refused = limiter.hit("a")
    assert (refused.allowed, refused.count) == (False, 3)
    clock.advance(5)
    assert limiter.hit("a").count == 1


@pytest.mark.parametrize(
    ("window_seconds", "start", "elapsed", "expected"),
    [
        (60.0, 2000.0685, 0.0, 60),  # 2000.0685 + 60 - 2000.0685 is 60.00000000000009 in floating point: still 60
        (60.0, 1000.0, 0.0, 60),
        (60.0, 1000.0, 0.4, 60),  # 59.6 s left: rounded up
        (60.0, 1000.0, 59.9, 1),
        (1.0, 2000.0685, 0.0, 1),
        (1.5, 1000.0, 0.0, 2),  # a fractional window shows its length rounded up
        (1.5, 1000.0, 0.6, 1),
    ],
)
def test_the_reset_header_is_never_longer_than_the_window(window_seconds: float, start: float, elapsed: float, expected: int) -> None:
    now = [start]
    limiter = RateLimiter(budget=100, window_seconds=window_seconds, clock=lambda: now[0])
    limiter.hit("a")  # opens the window at ``start``
    now[0] = start + elapsed
    assert limiter.hit("a").reset_header() == expected


def test_a_windows_first_answer_says_the_window_length_whatever_the_clock_reads() -> None:
    # Clock readings where started + window - now rounds a hair above the window.
    readings = [2000.0685, 1234.5678, 98765.4321, 0.1 + 0.2, 1e6 + 0.3]
    for reading in readings:
        assert RateLimiter(100, 60.0, clock=lambda reading=reading: reading).hit("x").reset_header() == 60, reading

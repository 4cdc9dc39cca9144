"""The retry policy as pure arithmetic: what is retried, how often, how long to wait."""

from __future__ import annotations

import random
import time
from email.utils import formatdate

import pytest
import requests

from planner.adapters.gateway.retry import Cause, RetryPolicy, cause_of, retry_after_seconds


class FixedRandom(random.Random):
    """uniform(a, b) returns the point ``share`` of the way from a to b."""

    def __init__(self, share: float) -> None:
        super().__init__(0)
        self.share = share

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.share


def refused() -> requests.ConnectionError:
    """What requests raises for a refused connection (urllib3's retries off): nothing was sent."""
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    return requests.ConnectionError(MaxRetryError(None, "/", NewConnectionError(None, "[Errno 111] Connection refused")))


@pytest.mark.parametrize(
    ("method", "outcome", "retryable"),
    [
        ("GET", 401, True),  # expired token: fetch a new one
        ("POST", 401, True),  # refused before processing, any method
        ("PUT", 429, True),
        ("POST", 429, True),  # not processed, any method
        ("GET", 503, True),
        ("PUT", 503, True),  # the gateway says it did nothing: a guarded PUT goes again as is
        ("POST", 503, True),
        ("GET", 502, True),
        ("PUT", 502, False),  # a proxy's 502/504: the gateway behind it may have applied it, so read back
        ("PUT", 504, False),
        ("GET", requests.ConnectionError("reset"), True),
        ("PUT", requests.ConnectionError("reset"), False),  # sent, then no answer: unknown, never resent blindly
        ("PUT", requests.ReadTimeout("slow"), False),
        ("PUT", requests.exceptions.ChunkedEncodingError("cut short"), False),
        ("PUT", requests.exceptions.SSLError("tls"), False),  # cannot tell when it happened
        ("PUT", requests.ConnectTimeout("no route"), True),  # never sent: safe for any method
        ("POST", requests.ConnectTimeout("no route"), True),
        ("PUT", refused(), True),
        ("GET", 400, False),
        ("PUT", 403, False),
        ("GET", 404, False),
        ("PUT", 409, False),
        ("GET", 500, False),  # a server bug is not retried away
        ("GET", 200, False),
        ("GET", ValueError("not transport"), False),
    ],
)
def test_what_is_retried(method: str, outcome: int | BaseException, retryable: bool) -> None:
    assert RetryPolicy().is_retryable(method, outcome) is retryable


def test_a_caller_may_declare_a_post_idempotent() -> None:
    assert RetryPolicy().is_retryable("POST", requests.ReadTimeout("slow"), idempotent=True)
    assert not RetryPolicy().is_retryable("GET", requests.ReadTimeout("slow"), idempotent=False)


def test_increment_returns_a_new_policy_and_leaves_the_old_one_alone() -> None:
    start = RetryPolicy(total=3, unavailable=2)
    after = start.increment("GET", 503)
    assert (start.total, start.unavailable, start.retries) == (3, 2, 0)
    assert (after.total, after.unavailable, after.retries) == (2, 1, 1)
    assert after.history[0].cause is Cause.UNAVAILABLE and after.history[0].status == 503


def test_one_reauthentication_then_exhausted() -> None:
    policy = RetryPolicy().increment("GET", 401)
    assert not policy.is_exhausted
    assert policy.next_wait(401, {}, random.Random(0)) == 0.0
    assert policy.increment("GET", 401).is_exhausted


def test_each_cause_has_its_own_bound_and_total_bounds_them_all() -> None:
    policy = RetryPolicy(total=4, rate_limited=2, unavailable=2)
    for outcome in (429, 429):
        policy = policy.increment("PUT", outcome)
    assert not policy.is_exhausted
    assert policy.increment("PUT", 429).is_exhausted  # a third 429
    policy = policy.increment("PUT", 503).increment("PUT", 503)
    assert not policy.is_exhausted  # 4 retries used, 4 allowed
    assert policy.increment("PUT", 503).is_exhausted


def test_the_default_budget_survives_a_minute_of_rate_limiting_and_then_stops() -> None:
    policy = RetryPolicy()
    waited = 0.0
    rng = FixedRandom(1.0)  # the longest jittered waits
    retries = 0
    while True:
        policy = policy.increment("PUT", 429)
        if policy.is_exhausted:
            break
        waited += policy.next_wait(429, {}, rng)
        retries += 1
    assert waited >= 60.0  # rides out a full window without any header to help
    assert retries == 10


def test_incrementing_a_final_outcome_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        RetryPolicy().increment("GET", 404)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "3", "inin-ratelimit-reset": "40"}, 3.0),  # Retry-After first
        ({"inin-ratelimit-reset": "12"}, 12.0),  # then the window reset
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "999"}, 120.0),  # capped by max_wait
        ({"Retry-After": "soon", "inin-ratelimit-reset": "5"}, 5.0),  # a garbled header is ignored
        ({"inin-ratelimit-allowed": "300", "inin-ratelimit-count": "300", "inin-ratelimit-reset": "9"}, 9.0),  # budget spent
        ({"inin-ratelimit-allowed": "300", "inin-ratelimit-count": "301", "inin-ratelimit-reset": "9"}, 9.0),
        # Room left in the window: not the window's 429, so backoff (half of 0.5 s), not the 40 s reset.
        ({"inin-ratelimit-allowed": "300", "inin-ratelimit-count": "12", "inin-ratelimit-reset": "40"}, 0.25),
    ],
)
def test_a_429_waits_what_the_gateway_says(headers: dict[str, str], expected: float) -> None:
    policy = RetryPolicy().increment("PUT", 429)
    assert policy.next_wait(429, headers, FixedRandom(0.5)) == expected


def test_a_retry_after_date_is_understood() -> None:
    in_ten = formatdate(time.time() + 10, usegmt=True)
    assert 8.0 <= (retry_after_seconds({"Retry-After": in_ten}) or 0) <= 10.0


def test_without_headers_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=3.0)
    top = FixedRandom(1.0)
    ceilings = []
    for _ in range(5):
        policy = policy.increment("GET", 503)
        ceilings.append(policy.next_wait(503, {}, top))
    assert ceilings == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.next_wait(503, {}, FixedRandom(0.0)) == 0.0  # full jitter reaches down to zero
    assert policy.next_wait(503, {}, FixedRandom(0.25)) == 0.75


def test_a_503_honours_retry_after_but_not_the_window_reset() -> None:
    policy = RetryPolicy(backoff_base=1.0).increment("GET", 503)
    assert policy.next_wait(503, {"Retry-After": "4"}, FixedRandom(1.0)) == 4.0
    assert policy.next_wait(503, {"inin-ratelimit-reset": "50"}, FixedRandom(1.0)) == 1.0


def test_each_cause_backs_off_from_its_own_start() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=100.0)
    for _ in range(3):
        policy = policy.increment("PUT", 503)
    policy = policy.increment("PUT", 429)
    assert policy.next_wait(429, {}, FixedRandom(1.0)) == 1.0  # first 429: base, not base * 2**3


def test_a_failure_before_sending_is_unreachable_and_one_after_is_no_answer() -> None:
    assert cause_of(refused()) is Cause.UNREACHABLE
    assert cause_of(requests.ConnectTimeout()) is Cause.UNREACHABLE
    assert cause_of(requests.ConnectionError()) is Cause.NO_ANSWER
    assert cause_of(requests.ReadTimeout()) is Cause.NO_ANSWER
    assert cause_of(504) is Cause.NO_ANSWER
    assert cause_of(503) is Cause.UNAVAILABLE
    assert cause_of(requests.TooManyRedirects()) is None


def test_unavailable_unreachable_and_no_answer_share_one_budget() -> None:
    policy = RetryPolicy(unavailable=2)
    for outcome in (503, refused()):
        policy = policy.increment("GET", outcome)
    assert not policy.is_exhausted
    assert policy.increment("GET", requests.ReadTimeout()).is_exhausted
    assert policy.next_wait(503, {}, FixedRandom(1.0)) == 1.0  # the third of the kind: base * 2**1


def test_negative_budgets_are_refused() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(total=-1)

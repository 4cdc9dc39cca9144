"""The pacer on a fake clock: it learns the budget from headers and spaces requests to fit it."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from planner.gateway.pacing import Pacer, RateLimitInfo

BUDGET_100_PER_SECOND = RateLimitInfo(allowed=100, count=2, reset=1)


def send_times(pacer: Pacer, clock: Any, count: int) -> list[float]:
    times = []
    for _ in range(count):
        pacer.acquire()
        times.append(clock())
    return times


def busiest_window(times: list[float], window: float) -> int:
    """The most sends in any interval of ``window`` seconds (sliding)."""
    best = 0
    start = 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_nothing_is_paced_before_the_gateway_names_a_budget(clock: Any) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    assert send_times(pacer, clock, 50) == [1000.0] * 50
    assert pacer.rate is None
    pacer.observe(RateLimitInfo(allowed=None, count=None, reset=None))  # headers absent
    assert pacer.rate is None


def test_it_learns_the_budget_and_paces_just_under_it(clock: Any) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep, safety=0.95)
    pacer.observe(BUDGET_100_PER_SECOND)
    assert pacer.budget == (100, 1.0)
    assert pacer.rate == pytest.approx(95.0)
    times = send_times(pacer, clock, 1000)
    elapsed = times[-1] - times[0]
    assert elapsed == pytest.approx(1000 / 95.0, rel=0.01)  # at the limit, not far under it
    assert busiest_window(times, 1.0) <= 100  # and never over it, in any window


def test_a_minute_window_is_learnt_from_the_reset_header(clock: Any) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep, safety=0.95)
    pacer.observe(RateLimitInfo(allowed=300, count=2, reset=60))
    pacer.observe(RateLimitInfo(allowed=300, count=3, reset=59))  # a later answer: window stays 60
    assert pacer.budget == (300, 60.0)
    times = send_times(pacer, clock, 600)
    assert busiest_window(times, 60.0) <= 300
    assert times[-1] - times[0] == pytest.approx(600 / 4.75, rel=0.02)


def test_a_small_burst_goes_out_at_once_after_idling(clock: Any) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep, safety=0.95)
    pacer.observe(RateLimitInfo(allowed=300, count=2, reset=60))
    clock.advance(100)
    times = send_times(pacer, clock, 10)
    assert times[:7] == [times[0]] * 7  # burst of floor(300 * 0.05 / 2) = 7
    assert times[7] > times[0]


def test_the_answer_to_a_windows_first_request_does_not_set_the_window(clock: Any) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep, safety=0.95)
    pacer.observe(RateLimitInfo(allowed=100, count=1, reset=2))  # a 1 s window's end, rounded up one second too far
    assert pacer.rate is None  # one request per window needs no pacing
    pacer.observe(RateLimitInfo(allowed=100, count=2, reset=1))
    assert pacer.budget == (100, 1.0)
    pacer.observe(RateLimitInfo(allowed=100, count=1, reset=2))  # the next window's first answer
    assert pacer.budget == (100, 1.0)


def test_without_a_reset_header_the_contracts_minute_is_assumed(clock: Any) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep, safety=0.95)
    pacer.observe(RateLimitInfo(allowed=300, count=1, reset=None))
    assert pacer.budget == (300, 60.0)


def test_requests_sent_before_the_budget_was_known_are_charged_to_it(clock: Any) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep, safety=0.95)
    for _ in range(10):  # ten threads start before any answer
        pacer.acquire()
    pacer.observe(BUDGET_100_PER_SECOND)
    start = clock()
    pacer.acquire()
    assert clock() - start == pytest.approx(10 / 95.0 - 1 / 95.0, abs=1e-9)  # waits out the ten, minus the burst of 2


def test_an_answer_saying_the_budget_is_spent_holds_everyone_until_the_reset(clock: Any) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    pacer.observe(RateLimitInfo(allowed=300, count=300, reset=17))
    start = clock()
    pacer.acquire()
    assert clock() - start == pytest.approx(17.0)


def test_hold_delays_every_thread_even_one_already_waiting_for_its_slot(clock: Any) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    pacer.hold(5.0)
    assert pacer.acquire() == pytest.approx(5.0)
    assert pacer.acquire() == 0.0


def test_threads_get_distinct_slots() -> None:
    # Real threads, real clock, a budget fast enough to finish in a blink.
    pacer = Pacer(safety=1.0)
    pacer.observe(RateLimitInfo(allowed=2000, count=0, reset=1))  # 0.5 ms apart, burst 1
    import time

    starts: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            pacer.acquire()
            with lock:
                starts.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    starts.sort()
    assert len(starts) == 200
    assert starts[-1] - starts[0] >= 199 * 0.0005 * 0.9  # 200 slots, not 8 parallel bursts


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"inin-ratelimit-allowed": "300", "inin-ratelimit-count": "12", "inin-ratelimit-reset": "48"}, RateLimitInfo(300, 12, 48.0)),
        ({"ININ-RATELIMIT-ALLOWED": "180"}, RateLimitInfo(180, None, None)),  # names are case-insensitive
        ({"inin-ratelimit-allowed": "lots", "inin-ratelimit-reset": "-3"}, RateLimitInfo(None, None, None)),  # garbage ignored
        ({}, RateLimitInfo(None, None, None)),
    ],
)
def test_rate_limit_headers_are_read_defensively(headers: dict[str, str], expected: RateLimitInfo) -> None:
    assert RateLimitInfo.from_headers(headers) == expected

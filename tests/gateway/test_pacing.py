"""The pacer on a fake clock: bursts up to the budget, holds until the window resets.

The gateways here are the sandbox's own fixed-window limiter (a window opens
at a client's first request) and a minimal one whose windows start at whole
multiples of their length, both driven by the same fake clock as the pacer.
"""

from __future__ import annotations

import heapq
import math
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from planner.adapters.gateway.pacing import Pacer, RateLimitInfo, Slot, Wait
from planner.sandbox.faults import RateLimiter

SLACK_60 = 0.005 + 0.005 * 60  # the pacer's slack after a 60 s window
SLACK_1 = 0.005 + 0.005 * 1


def info(allowed: int | None, count: int | None, reset: float | None) -> RateLimitInfo:
    return RateLimitInfo(allowed=allowed, count=count, reset=reset)


def grant(pacer: Pacer) -> Slot:
    decision = pacer.try_acquire()
    assert isinstance(decision, Slot), decision
    return decision


def slots_now(pacer: Pacer) -> list[Slot]:
    """Every slot the pacer gives at this instant, without anything answered."""
    slots = []
    while isinstance(decision := pacer.try_acquire(), Slot):
        slots.append(decision)
        assert len(slots) <= 100_000
    return slots


def learn(pacer: Pacer, answer: RateLimitInfo) -> None:
    """The request that goes alone at first, answered."""
    slot = grant(pacer)
    assert slot.alone
    pacer.release(slot, answer)


# --- reading the headers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"inin-ratelimit-allowed": "300", "inin-ratelimit-count": "12", "inin-ratelimit-reset": "48"}, info(300, 12, 48.0)),
        ({"ININ-RATELIMIT-ALLOWED": "180"}, info(180, None, None)),  # names are case-insensitive
        ({"inin-ratelimit-allowed": "lots", "inin-ratelimit-reset": "-3"}, info(None, None, None)),  # garbage ignored
        ({}, info(None, None, None)),
    ],
)
def test_rate_limit_headers_are_read_defensively(headers: dict[str, str], expected: RateLimitInfo) -> None:
    assert RateLimitInfo.from_headers(headers) == expected


# --- starting: one request learns the budget ---------------------------------------------


def test_before_the_budget_is_known_one_request_goes_alone(clock: Any) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    first = grant(pacer)
    assert first.alone
    assert pacer.try_acquire() == Wait(None)  # the others wait for its answer, not for a time
    assert pacer.budget is None
    pacer.release(first, info(300, 1, 60))
    assert pacer.budget == (300, 60.0)
    assert len(slots_now(pacer)) == 290  # then the rest of the budget at once: 1 + 290 = 300 - 9 reserved


def test_a_first_request_that_fails_hands_the_turn_to_the_next(clock: Any) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    first = grant(pacer)
    pacer.release(first, None)  # dropped connection: nothing learnt
    second = grant(pacer)
    assert second.alone
    assert pacer.try_acquire() == Wait(None)
    pacer.cancel(second)  # refused before sending (an open circuit breaker)
    assert grant(pacer).alone


def test_a_gateway_that_sends_no_budget_is_not_paced(clock: Any) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    learn(pacer, info(None, None, None))
    for _ in range(1000):
        assert isinstance(pacer.try_acquire(), Slot)
    assert pacer.budget is None


def test_sixteen_threads_starting_together_send_one_request_first() -> None:
    # Real threads and clock: however many ask, one request goes before the first answer.
    pacer = Pacer()
    granted: list[Slot] = []
    asking: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        with lock:
            asking.append(1)
        slot = pacer.acquire()
        with lock:
            granted.append(slot)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(asking) == 16 and len(granted) == 1)
    assert len(granted) == 1 and granted[0].alone
    assert pacer.in_flight == 1
    pacer.release(granted[0], info(300, 1, 60))
    for thread in threads:
        thread.join(timeout=10)
    assert len(granted) == 16
    assert [slot.alone for slot in granted].count(True) == 1


# --- bursts and holds -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "burst"),
    [
        (300, 291),  # 3 % reserved: 9
        (180, 174),  # 5.4 rounds up to 6
        (100, 97),
        (20, 19),  # at least one reserved
        (2, 1),
        (1, 1),  # never the whole budget reserved
    ],
)
def test_a_window_is_spent_at_once_up_to_the_budget_minus_the_reserve(clock: Any, allowed: int, burst: int) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    learn(pacer, info(allowed, 1, 60))
    assert 1 + len(slots_now(pacer)) == burst
    assert clock.sleeps == []


def test_when_the_budget_is_spent_every_thread_holds_until_the_reset(clock: Any) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    learn(pacer, info(100, 1, 60))  # sent and answered at 1000.0: the window ends by 1060
    burst = slots_now(pacer)  # sent at 1000.0 too
    clock.advance(2.5)
    for number, slot in enumerate(burst, start=2):
        pacer.release(slot, info(100, number, 60))  # slow answers, counted at 1000: by 1002.5 + 60, later than 1060
    assert pacer.try_acquire() == Wait(1060 + SLACK_60)
    slot = pacer.acquire()
    assert clock() == pytest.approx(1060 + SLACK_60)
    assert slot.waited == pytest.approx(57.5 + SLACK_60)
    assert slot.alone  # a new window: one request reads it first


def test_an_answer_saying_the_budget_is_spent_holds_everyone_until_its_reset(clock: Any) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    learn(pacer, info(300, 300, 17))  # other clients of the same id spent it
    start = clock()
    pacer.acquire()
    assert clock() - start == pytest.approx(17 + 0.005 + 0.005 * 17)  # slack from the only window length seen


def test_hold_delays_every_thread(clock: Any) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    learn(pacer, info(100, 1, 60))
    pacer.hold(5.0)
    assert pacer.acquire().waited == pytest.approx(5.0)
    assert pacer.acquire().waited == 0.0


def test_requests_in_flight_count_against_the_window_across_sixteen_threads() -> None:
    clock = BlockingClock()
    gateway = RateLimiter(budget=10, window_seconds=1.0, clock=clock)  # the sandbox's limiter: 9 ours per window
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    learn(pacer, answer_of(gateway.hit("c")))
    may_answer = threading.Event()
    granted: list[Slot] = []
    answers: list[RateLimitInfo] = []
    lock = threading.Lock()

    def worker() -> None:
        slot = pacer.acquire()
        state = gateway.hit("c")  # the gateway counts the request when it arrives
        with lock:
            granted.append(slot)
        assert may_answer.wait(timeout=10)
        with lock:
            answers.append(answer_of(state))
        pacer.release(slot, answer_of(state))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    # Nothing has been answered: 8 more go (1 + 8 = 9), the other 8 sleep until the window resets.
    wait_until(lambda: len(granted) == 8 and clock.sleepers == 8)
    assert pacer.in_flight == 8
    may_answer.set()
    wait_until(lambda: len(answers) == 8)
    assert len(granted) == 8 and clock.sleepers == 8  # answers do not make room in a spent window
    clock.advance(1.0 + SLACK_1 + 0.001)  # past the reset: one request alone, then the other 7
    for thread in threads:
        thread.join(timeout=10)
    assert len(answers) == 16
    # The first window: the lone request (1) and 8 more; the second: one alone, then 7. Never over 10.
    assert sorted(answer.count or 0 for answer in answers) == sorted([*range(2, 10), *range(1, 9)])


# --- windows changing -----------------------------------------------------------------------


def test_a_change_of_budget_mid_run_is_followed(clock: Any) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    learn(pacer, info(100, 1, 60))
    slots = slots_now(pacer)
    assert len(slots) == 96
    for slot in slots[:40]:
        pacer.release(slot, info(50, 41, 60))  # the budget shrank to 50: 48 ours at most, 41 + 56 in flight
    assert pacer.try_acquire() == Wait(1060 + SLACK_60)
    for slot in slots[40:]:
        pacer.release(slot, info(200, 97, 60))  # and grew to 200: 194 ours, 97 used
    assert len(slots_now(pacer)) == 194 - 97


def test_the_count_starts_again_when_the_window_resets(clock: Any) -> None:
    gateway = RateLimiter(budget=100, window_seconds=1.0, clock=clock)
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    for _window in range(3):
        first = pacer.acquire()
        assert first.alone
        pacer.release(first, answer_of(gateway.hit("c")))
        burst = slots_now(pacer)
        assert len(burst) == 96
        for slot in burst:
            pacer.release(slot, answer_of(gateway.hit("c")))
        assert isinstance(pacer.try_acquire(), Wait)
    assert clock() == pytest.approx(1000 + 2 * (1 + SLACK_1))  # two resets waited for, each 1 s + slack


def test_an_answer_from_the_next_window_starts_it_without_waiting_for_the_clock(clock: Any) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    learn(pacer, info(100, 1, 61))  # a window's first answer, read one second long: we think it ends by 1061
    for count in range(2, 97):
        pacer.release(grant(pacer), info(100, count, 61))
    clock.advance(60.5)  # the gateway's window ended at 1060
    late = grant(pacer)  # the 97th of our budget
    pacer.release(late, info(100, 1, 60))  # count 1 again: a window that ends after 1060.5 + 59, not by 1061
    assert len(slots_now(pacer)) == 96  # counted in the new window: its whole budget is there


def test_an_answer_of_the_old_window_arriving_late_does_not_spend_the_new_one(clock: Any) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    learn(pacer, info(100, 1, 60))
    burst = slots_now(pacer)
    for slot in burst[1:]:
        pacer.release(slot, info(100, 96, 60))
    straggler = burst[0]  # still in flight when the window resets
    clock.advance(60 + SLACK_60)
    pacer.release(grant(pacer), info(100, 2, 60))  # the new window's first answer: the straggler and it
    pacer.release(straggler, info(100, 97, 1))  # counted in the old window, answered now
    assert len(slots_now(pacer)) == 97 - 2 - 1  # the straggler counts as one (which window, nobody can tell), not 97


def test_a_stray_429_holds_nobody(clock: Any) -> None:
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    learn(pacer, info(100, 1, 60))
    stray = grant(pacer)
    pacer.release(stray, info(100, 2, 60))  # a 429 with room left: another limit, or an injected fault
    unknown = grant(pacer)
    pacer.release(unknown, info(None, None, None))  # a 429 with no headers: counted as used, nothing more
    assert len(slots_now(pacer)) == 97 - 2 - 1
    assert clock.sleeps == []


# --- whole runs against a simulated gateway (event by event, no thread) --------------------------


class AlignedWindows:
    """A gateway whose windows start at whole multiples of their length (as a per-minute counter does)."""

    def __init__(self, allowed: int, window: float, clock: Callable[[], float]) -> None:
        self.allowed, self.window, self.clock = allowed, window, clock
        self.counts: dict[int, int] = {}

    def hit(self, client: str) -> Any:
        now = self.clock()
        index = math.floor(now / self.window)
        self.counts[index] = self.counts.get(index, 0) + 1
        count = self.counts[index]
        reset = max(1, math.ceil((index + 1) * self.window - now))
        return _Answer(count <= self.allowed, count, (("inin-ratelimit-allowed", str(self.allowed)), ("inin-ratelimit-count", str(count)), ("inin-ratelimit-reset", str(reset))))


@dataclass(frozen=True)
class _Answer:
    allowed: bool
    count: int
    header_pairs: tuple[tuple[str, str], ...]

    def headers(self) -> tuple[tuple[str, str], ...]:
        return self.header_pairs


def answer_of(state: Any) -> RateLimitInfo:
    return RateLimitInfo.from_headers(dict(state.headers()))


@dataclass
class RunResult:
    elapsed: float
    refused: int  # requests the gateway answered 429
    busiest_window: int  # the most requests the gateway counted in one of its windows


def simulate(
    gateway: Any,
    clock: Any,
    requests: int,
    *,
    parallelism: int = 10,
    latency: float = 0.05,
    counted_after: Callable[[], float] = lambda: 0.0,
) -> RunResult:
    """``requests`` requests through one pacer, ``parallelism`` at a time.

    The gateway counts each request ``counted_after()`` seconds after it is
    sent and answers ``latency`` seconds after it is sent.
    """
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    start = clock()
    events: list[tuple[float, int, Slot, Any]] = []  # (when, order, slot, None to count it / the answer)
    sent = answered = refused = busiest = order = 0
    while answered < requests:
        decision: Slot | Wait | None = None
        while sent < requests and sent - answered < parallelism:
            decision = pacer.try_acquire()
            if not isinstance(decision, Slot):
                break
            heapq.heappush(events, (clock() + min(counted_after(), latency), order := order + 1, decision, None))
            sent += 1
        moments = [events[0][0]] if events else []
        if isinstance(decision, Wait) and decision.until is not None:
            moments.append(decision.until)
        assert moments, "the pacer waits for an answer that will never come"
        clock.advance(max(min(moments) - clock(), 0.0))
        while events and events[0][0] <= clock():
            _, _, slot, answer = heapq.heappop(events)
            if answer is None:  # the gateway counts it now, answers later
                state = gateway.hit("client")
                refused += not state.allowed
                busiest = max(busiest, state.count)
                heapq.heappush(events, (slot.sent_at + latency, order := order + 1, slot, answer_of(state)))
            else:
                pacer.release(slot, answer)
                answered += 1
    return RunResult(clock() - start, refused, busiest)


def test_a_hundred_puts_under_300_a_minute_are_not_paced(clock: Any) -> None:
    result = simulate(RateLimiter(300, 60.0, clock), clock, 100)
    # One request alone (50 ms), then 99 ten at a time: 10 round trips.
    assert result.elapsed == pytest.approx(0.05 + 10 * 0.05)
    assert result.refused == 0


@pytest.mark.parametrize("gateway_kind", ["window opens at first request", "windows on the minute"])
def test_a_thousand_puts_under_300_a_minute_take_four_windows(clock: Any, gateway_kind: str) -> None:
    gateway: Any = RateLimiter(300, 60.0, clock) if gateway_kind == "window opens at first request" else AlignedWindows(300, 60.0, clock)
    result = simulate(gateway, clock, 1000)
    assert result.refused == 0
    assert result.busiest_window <= 291  # never more than the budget, less the reserve
    if gateway_kind == "window opens at first request":
        # ceil(1000 / 291) = 4 windows: three waited out in full (each ends one
        # round trip after its first request, plus slack), the rest of the last sent at once.
        assert 3 * 60 < result.elapsed < 3 * (60 + 0.05 + SLACK_60) + 1
    else:
        # The clock starts at 1000 s, 40 s into a minute: 20 s left, then two whole minutes, then the last one.
        assert 20 + 2 * 60 < result.elapsed < 20 + 2 * 60 + 3 * SLACK_60 + 1


def test_a_thousand_puts_under_100_a_second_stay_within_ten_percent_of_ten_seconds(clock: Any) -> None:
    result = simulate(RateLimiter(100, 1.0, clock), clock, 1000)
    assert result.refused == 0
    assert result.busiest_window <= 97
    # 11 windows: 10 spent and waited out (1 s from the send of each one's first request, + 10 ms
    # slack), then 30 requests: one alone, 29 in three round trips.
    assert result.elapsed == pytest.approx(10 * (1 + SLACK_1) + 0.05 + 3 * 0.05)


def test_a_gateway_counting_requests_at_varying_delays_gets_no_429_and_costs_one_window_at_most(clock: Any) -> None:
    # Counted up to 45 ms after sending: "send + reset" can be early by more than the slack.
    jitter = random.Random(7)
    result = simulate(RateLimiter(100, 1.0, clock), clock, 1000, counted_after=lambda: jitter.uniform(0.0, 0.045))
    assert result.refused == 0  # a window's first request landing in the old window fits in the reserve
    assert result.busiest_window <= 98
    # After that once, windows are waited out by receipt times: 1 s + round trip + slack each; plus one
    # window lost at the early request (its answer says "reset in 1 s").
    assert result.elapsed <= 10 * (1 + 0.05 + SLACK_1) + 1 + 0.05 + 3 * 0.05 + 0.1


# --- a clock whose sleepers wait for the test ------------------------------------------------


class BlockingClock:
    """A fake monotonic clock; ``sleep`` blocks until the test advances time past the wake-up."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleepers = 0
        self._changed = threading.Condition()

    def __call__(self) -> float:
        with self._changed:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._changed:
            wake = self.now + seconds
            self.sleepers += 1
            try:
                assert self._changed.wait_for(lambda: self.now >= wake, timeout=10), "nobody advanced the clock"
            finally:
                self.sleepers -= 1

    def advance(self, seconds: float) -> None:
        with self._changed:
            self.now += seconds
            self._changed.notify_all()


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)

"""The circuit breaker on a fake clock: open after N failures in a row, fail fast, probe, recover."""

from __future__ import annotations

from typing import Any

import pytest

from planner.adapters.gateway.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from planner.model.errors import CircuitOpen, GatewayUnavailable


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.before_request()
        breaker.record_failure("503 from PUT /x")


def test_it_opens_only_after_the_threshold_of_consecutive_failures(clock: Any) -> None:
    breaker = CircuitBreaker(failure_threshold=3, cooldown_seconds=10, clock=clock)
    fail(breaker, 2)
    breaker.before_request()
    breaker.record_success()  # a success in between resets the count
    fail(breaker, 2)
    assert breaker.state == CLOSED
    fail(breaker, 1)
    assert breaker.state == OPEN


def test_while_open_it_fails_fast_saying_gateway_unavailable_and_how_long(clock: Any) -> None:
    breaker = CircuitBreaker(failure_threshold=2, cooldown_seconds=10, clock=clock)
    fail(breaker, 2)
    clock.advance(4)
    with pytest.raises(CircuitOpen) as caught:
        breaker.before_request()
    assert isinstance(caught.value, GatewayUnavailable)
    message = str(caught.value)
    assert message.startswith("gateway unavailable")
    assert "2 consecutive failures (last: 503 from PUT /x)" in message
    assert "6.0 s more" in message


def test_after_the_cooldown_one_probe_goes_and_its_success_closes_the_circuit(clock: Any) -> None:
    breaker = CircuitBreaker(failure_threshold=2, cooldown_seconds=10, clock=clock)
    fail(breaker, 2)
    clock.advance(10)
    assert breaker.state == HALF_OPEN
    assert breaker.before_request() is True  # the probe
    with pytest.raises(CircuitOpen, match="waiting for the probe"):
        breaker.before_request()  # others still fail fast
    breaker.record_success()
    assert breaker.state == CLOSED
    assert breaker.before_request() is False


def test_a_failed_probe_opens_the_circuit_for_another_cooldown(clock: Any) -> None:
    breaker = CircuitBreaker(failure_threshold=2, cooldown_seconds=10, clock=clock)
    fail(breaker, 2)
    clock.advance(10)
    assert breaker.before_request() is True
    breaker.record_failure("connection refused")
    assert breaker.state == OPEN
    assert breaker.times_opened == 2
    clock.advance(9.9)
    with pytest.raises(CircuitOpen):
        breaker.before_request()
    clock.advance(0.1)
    assert breaker.before_request() is True


def test_an_abandoned_probe_frees_the_slot_for_the_next_one(clock: Any) -> None:
    breaker = CircuitBreaker(failure_threshold=1, cooldown_seconds=1, clock=clock)
    fail(breaker, 1)
    clock.advance(1)
    probe = breaker.before_request()
    breaker.record_abandoned(probe)
    assert breaker.before_request() is True

"""The token cache with a fake token function: cached, refreshed early, single flight, compare-and-clear."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from planner.adapters.gateway.auth import TokenCache, TokenGrant, credentials_refused, grant_from_answer
from planner.model.errors import AuthenticationFailed


class TokenFunction:
    """Hands out token-1, token-2, …; can be made slow (gated) or failing."""

    def __init__(self, expires_in: float = 3600, gate: threading.Event | None = None, error: BaseException | None = None) -> None:
        self.expires_in = expires_in
        self.gate = gate
        self.error = error
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> TokenGrant:
        with self._lock:
            self.calls += 1
            number = self.calls
        if self.gate is not None:
            assert self.gate.wait(timeout=10)
        if self.error is not None:
            raise self.error
        return TokenGrant(access_token=f"token-{number}", expires_in=self.expires_in)


def test_the_token_is_cached_across_calls(clock: Any) -> None:
    fetch = TokenFunction()
    cache = TokenCache(fetch, clock=clock)
    assert [cache.get() for _ in range(5)] == ["token-1"] * 5
    assert fetch.calls == 1


def test_it_is_refreshed_sixty_seconds_before_it_expires(clock: Any) -> None:
    fetch = TokenFunction(expires_in=3600)
    cache = TokenCache(fetch, clock=clock)
    cache.get()
    clock.advance(3600 - 60 - 0.001)
    assert cache.get() == "token-1"
    clock.advance(0.001)
    assert cache.get() == "token-2"


def test_a_short_lived_token_is_refreshed_halfway_not_on_every_call(clock: Any) -> None:
    fetch = TokenFunction(expires_in=5)
    cache = TokenCache(fetch, clock=clock)
    cache.get()
    clock.advance(2.4)
    assert cache.get() == "token-1"
    clock.advance(0.1)
    assert cache.get() == "token-2"


def test_twenty_threads_needing_a_token_cause_one_fetch(clock: Any) -> None:
    gate = threading.Event()
    fetch = TokenFunction(gate=gate)
    cache = TokenCache(fetch, clock=clock)
    tokens: list[str] = []
    lock = threading.Lock()
    arrived = threading.Barrier(21)

    def worker() -> None:
        arrived.wait(timeout=10)
        value = cache.get()
        with lock:
            tokens.append(value)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    arrived.wait(timeout=10)
    gate.set()
    for thread in threads:
        thread.join(timeout=10)
    assert tokens == ["token-1"] * 20
    assert fetch.calls == 1
    assert cache.fetch_count == 1


def test_threads_waiting_on_a_failed_fetch_share_its_error_instead_of_each_trying(clock: Any) -> None:
    gate = threading.Event()
    refused = AuthenticationFailed("refused")
    fetch = TokenFunction(gate=gate, error=refused)
    cache = TokenCache(fetch, clock=clock)
    errors: list[BaseException] = []
    lock = threading.Lock()
    started = threading.Barrier(11)

    def worker() -> None:
        started.wait(timeout=10)
        try:
            cache.get()
        except AuthenticationFailed as error:
            with lock:
                errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    started.wait(timeout=10)
    # Let all nine others queue up behind the one fetch before it fails (bounded at 10 s: a busy
    # machine may take long to run every thread that far); a thread that came after the flight
    # ended would rightly try again, and the count below would say nothing.
    deadline = threading.Event()
    for _ in range(2000):
        if fetch.calls == 1 and len(cache._condition._waiters) == 9:  # type: ignore[attr-defined]  # noqa: SLF001 - the flight's waiters
            break
        deadline.wait(0.005)
    assert fetch.calls == 1 and len(cache._condition._waiters) == 9, "the threads never queued up"  # type: ignore[attr-defined]  # noqa: SLF001
    gate.set()
    for thread in threads:
        thread.join(timeout=10)
    assert len(errors) == 10
    assert fetch.calls == 1  # one flight: every waiter got its error instead of trying again


def test_invalidate_drops_only_the_token_that_was_refused(clock: Any) -> None:
    fetch = TokenFunction()
    cache = TokenCache(fetch, clock=clock)
    stale = cache.get()
    cache.invalidate(stale)
    fresh = cache.get()
    assert fresh == "token-2"
    cache.invalidate(stale)  # a late thread reporting the old token's 401
    assert cache.get() == "token-2"
    assert fetch.calls == 2


def test_the_token_value_never_shows_in_a_repr() -> None:
    assert "abc.def" not in repr(TokenGrant(access_token="abc.def", expires_in=10))


def test_a_200_without_a_token_is_an_error_not_a_crash() -> None:
    with pytest.raises(Exception, match="without access_token"):
        grant_from_answer({"token_type": "bearer"}, login_url="http://127.0.0.1:1")
    assert grant_from_answer({"access_token": "t", "expires_in": 60}, login_url="x").expires_in == 60.0


def test_refused_credentials_say_what_to_check() -> None:
    error = credentials_refused(401, {"error": "invalid_client", "description": "unknown client"}, login_url="https://login.example.org")
    message = str(error)
    assert "invalid_client: unknown client" in message
    assert "check the client id and secret" in message
    assert "GENESYSCLOUD_OAUTHCLIENT_ID" in message
    assert "ai:llm:manage" in message
    assert error.status == 401 and error.code == "invalid_client"

"""One deadline per exchange, and cancellation, against peers that misbehave on
127.0.0.1 (``tests/stalling_peers.py``: real sockets, real TLS).

A gateway that trickles its answer (or its headers) one byte at a time never
trips a per-read timeout; the exchange's total deadline cuts it off.  A
cancelled client ends whatever it is doing (an answer being read, a backoff,
a rate-limit hold, the breaker's cool-down, a token other threads wait for)
within moments and sends nothing more.  A gateway that never answered makes
every thread fail at once after the first gives up.

Deadlines are small here (1-2 s) so the tests stay fast; every bound
asserted is the configured deadline plus 3 s, several times what the runs
take, so a busy machine cannot make them flake.
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

import tests.stalling_peers as peers
from planner.adapters import waiting
from planner.adapters.gateway.breaker import CircuitBreaker
from planner.adapters.gateway.client import GatewayClient, Timeouts
from planner.adapters.gateway.endpoints import Credentials, Endpoint
from planner.adapters.gateway.live import fetch_live
from planner.adapters.gateway.pacing import Pacer
from planner.adapters.gateway.retry import RetryPolicy
from planner.adapters.waiting import Cancellation
from planner.model.errors import Cancelled, GatewayUnavailable
from tests.plan.tls_front import make_certificate
from tests.records.records_helpers import queue

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
SLACK = 3.0  # added to every configured deadline in a bound: a busy machine, not a slow client
CANCELLED_WITHIN = 2.0  # the promise is about half a second


def client_for(url: str, **options: Any) -> GatewayClient:
    return GatewayClient(Endpoint(url, url), Credentials("sandbox", "sandbox-secret"), **options)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def waits() -> Iterator[tuple[list[str], threading.Event]]:
    """The waiting lines llmplan would print, and an event set by the first."""
    lines: list[str] = []
    said = threading.Event()

    def sink(line: str) -> None:
        lines.append(line)
        said.set()

    waiting.redirect(sink)
    yield lines, said
    waiting.redirect(None)


def cancel_when(event: threading.Event, client: GatewayClient, *, reason: str = "the test cancels") -> list[float]:
    """Cancel ``client`` from another thread as soon as ``event`` is set; the list receives the moment."""
    moment: list[float] = []

    def run() -> None:
        if event.wait(30):
            moment.append(time.monotonic())
            client.cancel(reason)

    threading.Thread(target=run, daemon=True).start()
    return moment


# --- a trickling gateway is cut off at its deadline ---------------------------------------------------


@pytest.mark.parametrize("headers_too", [False, True], ids=["trickled body", "trickled headers"])
def test_a_gateway_that_trickles_its_answer_is_cut_off_at_the_deadline(headers_too: bool) -> None:
    with peers.trickling(headers_too=headers_too) as peer, client_for(peer.url, timeouts=Timeouts(deadline=1.0)) as client:
        started = time.monotonic()
        with pytest.raises(GatewayUnavailable) as caught:
            client.get_model(SUPPORT)
        elapsed = time.monotonic() - started
    assert re.search(r"POST /oauth/token failed \(no complete answer within 1\.\d s\) in 1\.\d s; the gateway is " + re.escape(peer.url), str(caught.value))
    assert elapsed < 1.0 + SLACK, elapsed  # a byte every 0.2 s never trips a per-read timeout: the total deadline did
    assert peer.requests == [("POST", "/oauth/token")]  # the one attempt spent the whole deadline


def test_each_attempt_gets_at_most_its_own_limit_and_retries_stop_at_the_deadline() -> None:
    with peers.trickling() as peer, client_for(peer.url, timeouts=Timeouts(attempt=0.5, deadline=2.0), retry=RetryPolicy(backoff_base=0.01, backoff_cap=0.01)) as client:
        started = time.monotonic()
        with pytest.raises(GatewayUnavailable) as caught:
            client.get_model(SUPPORT)
        elapsed = time.monotonic() - started
    assert len(peer.requests) >= 2  # each attempt was cut after 0.5 s and the token request retried
    assert f"failed after {len(peer.requests)} attempts (no complete answer within 0." in str(caught.value)
    assert elapsed < 2.0 + SLACK, elapsed


def test_a_tls_gateway_that_trickles_is_cut_off_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    certificate, key = make_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate))  # a gateway off loopback: llmplan trusts the environment's CA bundle
    with peers.trickling(tls=context) as peer:
        url = f"https://0.0.0.0:{peer.port}"  # the certificate's name; on Linux this reaches the loopback listener
        with client_for(url, timeouts=Timeouts(deadline=1.0)) as client:
            started = time.monotonic()
            with pytest.raises(GatewayUnavailable, match=r"no complete answer within 1\.\d s"):
                client.get_model(SUPPORT)
            elapsed = time.monotonic() - started
    assert peer.requests == [("POST", "/oauth/token")]  # the handshake succeeded: the TLS read was what was cut
    assert elapsed < 1.0 + SLACK, elapsed


def test_a_tls_handshake_that_never_comes_is_cut_off_at_the_deadline() -> None:
    with peers.silent() as peer, client_for(f"https://127.0.0.1:{peer.port}", timeouts=Timeouts(connect=30, deadline=1.0)) as client:
        started = time.monotonic()
        with pytest.raises(GatewayUnavailable) as caught:
            client.get_model(SUPPORT)
        elapsed = time.monotonic() - started
    assert "POST /oauth/token failed" in str(caught.value)
    assert elapsed < 1.0 + SLACK, elapsed


def test_cancel_cuts_a_tls_handshake_that_never_comes() -> None:
    with peers.silent() as peer, client_for(f"https://127.0.0.1:{peer.port}") as client:  # 5 s to connect, 15 s an attempt
        moment = cancel_when(peer.reached, client)
        with pytest.raises(Cancelled):
            client.get_model(SUPPORT)
        ended = time.monotonic()
    assert ended - moment[0] < CANCELLED_WITHIN


# --- TLS against plain HTTP -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "advice"),
    [
        ("127.0.0.1", "use http://127.0.0.1:{port} instead: plain HTTP is allowed on loopback addresses (the sandbox serves http://)"),  # the sandbox, typed with https://
        ("0.0.0.0", "check the port: that server speaks plain HTTP, and llmplan talks to a remote gateway only over https"),  # not loopback by llmplan's rules
    ],
)
def test_https_to_a_plain_http_server_says_so_at_once(host: str, advice: str) -> None:
    with peers.plain_http() as peer:
        url = f"https://{host}:{peer.port}"
        with client_for(url) as client:  # the default 30 s deadline: nothing of it is spent
            started = time.monotonic()
            with pytest.raises(GatewayUnavailable) as caught:
                client.get_model(SUPPORT)
            elapsed = time.monotonic() - started
    assert str(caught.value) == (
        f"TLS failed with the gateway: POST /oauth/token: the server answered the TLS handshake in plain HTTP: "
        f"it does not speak https at that address; the gateway is {url}"
    )
    assert caught.value.hint == advice.format(port=peer.port)
    assert peer.accepted == 1  # said once, never retried
    assert elapsed < SLACK, elapsed


# --- nothing answered: every thread fails at once ------------------------------------------------


@pytest.mark.parametrize("run", range(3))  # the breaker's wait showed in 3 of 4 runs: every run must be fast
def test_a_refused_gateway_fails_every_thread_at_once_and_no_breaker_wait_is_added(run: int, waits: tuple[list[str], threading.Event]) -> None:
    lines, _ = waits
    url = f"http://127.0.0.1:{closed_port()}"
    model_ids = [f"a1b2c3d4-e5f6-7890-abcd-ef12345678{index:02d}" for index in range(15)]  # 30 GETs on 4 threads
    with client_for(url, parallelism=4) as client:  # default timeouts: 5 s for a gateway that never answered
        started = time.monotonic()
        with pytest.raises(GatewayUnavailable) as caught:
            fetch_live(client, model_ids, parallelism=4)
        elapsed = time.monotonic() - started
        attempts = client.stats().attempts
    assert elapsed < 5.0 + SLACK, elapsed  # the 5 s once, not once per token fetch plus the breaker's cool-down
    assert not [line for line in lines if "to recover" in line]  # nothing ever answered: no breaker wait
    assert attempts <= RetryPolicy().unavailable + 1  # one token request's attempts: no thread started another
    seconds = float(re.search(r" in (\d+\.\d) s;", str(caught.value)).group(1))  # type: ignore[union-attr]
    assert seconds <= elapsed + 0.1 and elapsed - seconds < 1.5  # the figure is the real time the command spent


def test_after_one_request_gave_up_on_a_gateway_that_never_answered_the_next_is_not_sent() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with client_for(url, timeouts=Timeouts(deadline=1.0)) as client:
        with pytest.raises(GatewayUnavailable):
            client.get_model(SUPPORT)
        attempts = client.stats().attempts
        with pytest.raises(GatewayUnavailable) as caught:
            client.get_model(SUPPORT)
        assert client.stats().attempts == attempts
    assert re.search(rf"GET /api/v2/ai/models/{SUPPORT} not sent: nothing has answered at the gateway's address for \d+\.\d s \({attempts} attempts, last: connection refused\)", str(caught.value))


# --- cancellation ------------------------------------------------------------------------------------


def test_cancel_cuts_an_answer_being_trickled(waits: tuple[list[str], threading.Event]) -> None:
    with peers.trickling() as peer, client_for(peer.url) as client:  # the default deadline: 15 s per attempt
        moment = cancel_when(peer.reached, client, reason="interrupted (SIGTERM)")
        with pytest.raises(Cancelled) as caught:
            client.get_model(SUPPORT)
        ended = time.monotonic()
    assert str(caught.value) == "POST /oauth/token was cancelled (interrupted (SIGTERM))"
    assert ended - moment[0] < CANCELLED_WITHIN


def test_cancel_ends_a_retry_backoff(gateway: Any, admin: Any, waits: tuple[list[str], threading.Event]) -> None:
    lines, said = waits
    with client_for(gateway.url) as client:
        client.get_model(SUPPORT)
        admin.faults(rules=[{"match": {"method": "GET"}, "effect": "status", "status": 503, "retry_after": 25}])
        moment = cancel_when(said, client)
        with pytest.raises(Cancelled, match=f"GET /api/v2/ai/models/{SUPPORT} was cancelled"):
            client.get_model(SUPPORT)
        ended = time.monotonic()
    assert lines[0].startswith("waiting 25.0 s for the next attempt of GET")
    assert ended - moment[0] < CANCELLED_WITHIN


def test_cancel_ends_the_wait_for_the_breakers_probe(gateway: Any, admin: Any, waits: tuple[list[str], threading.Event]) -> None:
    lines, said = waits
    breaker = CircuitBreaker(failure_threshold=2, cooldown_seconds=20)
    with client_for(gateway.url, breaker=breaker, timeouts=Timeouts(deadline=60), retry=RetryPolicy(backoff_base=0.01, backoff_cap=0.01)) as client:
        client.get_model(SUPPORT)  # it answered: an outage is worth riding out
        admin.faults(rules=[{"match": {"method": "GET"}, "effect": "status", "status": 503}])
        moment = cancel_when(said, client)
        with pytest.raises(Cancelled):
            client.get_model(SUPPORT)
        ended = time.monotonic()
    assert "for the gateway to recover (circuit breaker open after 2 consecutive failures" in lines[0]
    assert ended - moment[0] < CANCELLED_WITHIN


def test_cancel_ends_a_rate_limit_hold() -> None:
    cancellation = Cancellation()
    pacer = Pacer(cancellation=cancellation)
    pacer.hold(25)  # a 429 said the budget is spent for 25 s
    threading.Timer(0.2, cancellation.cancel, args=("the test cancels",)).start()
    started = time.monotonic()
    with pytest.raises(Cancelled, match="while waiting for the gateway's rate-limit window: the test cancels"):
        pacer.acquire()
    assert time.monotonic() - started < 0.2 + CANCELLED_WITHIN


def test_cancel_reaches_every_thread_waiting_for_the_token() -> None:
    outcomes: list[BaseException] = []
    with peers.trickling() as peer, client_for(peer.url, parallelism=4) as client:

        def call() -> None:
            try:
                client.get_model(SUPPORT)
            except Cancelled as error:
                outcomes.append(error)

        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
        moment = cancel_when(peer.reached, client)
        for thread in threads:
            thread.join(timeout=30)
        ended = time.monotonic()
    assert len(outcomes) == 4  # one fetched the token, three waited for it: all four stopped
    assert peer.requests == [("POST", "/oauth/token")]
    assert ended - moment[0] < CANCELLED_WITHIN


def test_a_cancelled_client_sends_nothing_more(gateway: Any, admin: Any) -> None:
    with client_for(gateway.url) as client:
        client.get_model(SUPPORT)
        sent = len(admin.requests())
        client.cancel("the command is stopping")
        with pytest.raises(Cancelled, match="was cancelled \\(the command is stopping\\)"):
            client.get_model(SUPPORT)
        with pytest.raises(Cancelled):
            client.apply_configuration(SUPPORT, {"model_id": SUPPORT, "max_tokens": 1}, 0)
    assert len(admin.requests()) == sent


def test_a_put_cut_off_by_a_cancel_is_of_unknown_outcome(gateway: Any) -> None:
    slow: Callable[[str, str], bool] = lambda method, path: method == "PUT"  # noqa: E731
    configuration = {
        "model_id": SUPPORT,
        "temperature_matrix": {"default": 0.5, "creative": 1.0, "precise": 0.2},
        "safety_filters": [{"filter_type": "pii", "action": "redact", "threshold": 70}],
        "max_tokens": 1024,
    }
    with peers.trickling_proxy(gateway.url, slow) as proxy, client_for(proxy.url) as client:
        moment = cancel_when(proxy.reached, client, reason="apply was interrupted (SIGTERM)")
        with pytest.raises(Cancelled) as caught:
            client.apply_configuration(SUPPORT, configuration, 0)
        ended = time.monotonic()
    assert caught.value.sent
    assert str(caught.value).startswith(f"PUT /api/v2/ai/models/{SUPPORT}/configuration was cancelled after it was sent (apply was interrupted (SIGTERM)): whether the gateway applied it is unknown")
    assert ended - moment[0] < CANCELLED_WITHIN
    assert proxy.requests.count(("PUT", f"/api/v2/ai/models/{SUPPORT}/configuration")) == 1  # not resent, not read back


# --- the governance receiver -----------------------------------------------------------------------

EVENT = {"event_id": "evt-1", "event_type": "llm_config_change"}


@pytest.mark.parametrize("stall", [peers.silent, peers.trickling], ids=["silent receiver", "trickling receiver"])
def test_a_stalled_receiver_holds_a_delivery_no_longer_than_its_deadline(tmp_path: Path, stall: Any) -> None:
    from planner.adapters.governance import GovernanceNotifier
    from planner.adapters.records.local_outbox import LocalOutbox

    with stall() as receiver:
        notifier = GovernanceNotifier(receiver.url, LocalOutbox(tmp_path / "outbox.jsonl"), timeout=1.0)
        queue(notifier.outbox, EVENT)
        started = time.monotonic()
        assert notifier.deliver(EVENT) is False  # never raises into apply
        elapsed = time.monotonic() - started
        assert notifier.deliver(EVENT) is False  # paused after a failure: not even tried
    assert elapsed < 1.0 + SLACK, elapsed
    assert receiver.accepted == 1
    assert [event["event_id"] for event in notifier.pending()] == ["evt-1"]  # kept for governance flush


def test_cancel_cuts_a_delivery_in_flight_and_sends_nothing_more(tmp_path: Path) -> None:
    from planner.adapters.governance import GovernanceNotifier
    from planner.adapters.records.local_outbox import LocalOutbox

    with peers.trickling() as receiver:
        notifier = GovernanceNotifier(receiver.url, LocalOutbox(tmp_path / "outbox.jsonl"), timeout=30)
        queue(notifier.outbox, EVENT)
        moment: list[float] = []

        def cancel() -> None:
            if receiver.reached.wait(30):
                moment.append(time.monotonic())
                notifier.cancel("apply was interrupted (SIGTERM)")

        threading.Thread(target=cancel, daemon=True).start()
        assert notifier.deliver(EVENT) is False
        ended = time.monotonic()
        assert notifier.flush().delivered == 0
    assert ended - moment[0] < CANCELLED_WITHIN
    assert receiver.accepted == 1  # flush after the cancel sent nothing
    assert [event["event_id"] for event in notifier.pending()] == ["evt-1"]

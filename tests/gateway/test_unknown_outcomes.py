"""Three outcomes, not two: every way a request can fail, placed before or
after sending by real sockets; the read-back that decides a lost answer,
as a table and against the sandbox's lost_answer/drop/status faults."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import requests

from planner.adapters.gateway.outcomes import MAX_RESENDS, Verdict, judge, put_until_known
from planner.adapters.gateway.retry import Cause, RetryPolicy, cause_of, never_sent
from planner.adapters.gateway.transport import _session
from planner.model.errors import GatewayError, OutcomeUnknown, VersionConflict

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
CONFIG_PATH = f"/api/v2/ai/models/{SUPPORT}/configuration"
LOG = logging.getLogger("test")


def configuration(max_tokens: int = 2048) -> dict[str, Any]:
    return {
        "model_id": SUPPORT,
        "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.3},
        "safety_filters": [{"filter_type": "pii", "action": "redact", "threshold": 85}],
        "max_tokens": max_tokens,
        "compliance_mode": "strict",
    }


def live(version: int, **changes: Any) -> dict[str, Any]:
    return {**configuration(**changes), "version": version, "modifiedDate": "2026-11-24T10:00:00.000Z", "selfUri": CONFIG_PATH}


# --- judge: the three-way decision as a table ----------------------------------------------------


@pytest.mark.parametrize(
    ("guard", "read_back", "verdict"),
    [
        (1, live(2), Verdict.LANDED),  # what was sent, one version past the guard: it landed
        (1, live(5), Verdict.LANDED),  # what was sent, further past: still ours (whoever came later changed nothing)
        (0, live(1), Verdict.LANDED),  # a first configuration that landed
        (1, live(1, max_tokens=1000), Verdict.NOT_LANDED),  # still the guarded version: resend with the same guard
        (1, live(1), Verdict.NOT_LANDED),  # equal content but the guarded version: our PUT did not land
        (0, None, Verdict.NOT_LANDED),  # a first configuration that did not land: still none
        (1, live(2, max_tokens=700), Verdict.CONFLICT),  # someone else's change
        (1, None, Verdict.CONFLICT),  # the configuration was removed meanwhile
        (0, live(1, max_tokens=700), Verdict.CONFLICT),  # someone configured it first
        (None, live(3), Verdict.LANDED),  # unguarded: only "landed" can be told
        (None, live(3, max_tokens=700), Verdict.UNDECIDABLE),
    ],
)
def test_a_lost_answer_is_judged_from_what_was_sent_the_guard_and_the_read_back(guard: int | None, read_back: dict[str, Any] | None, verdict: Verdict) -> None:
    assert judge(configuration(), guard, read_back) is verdict


def test_safety_filter_order_and_documented_defaults_do_not_make_a_landed_change_look_different() -> None:
    sent = {**configuration(), "safety_filters": [{"filter_type": "pii", "action": "redact", "threshold": 85}, {"filter_type": "profanity", "action": "flag", "threshold": 60}]}
    sent.pop("compliance_mode")
    back = {**sent, "safety_filters": list(reversed(sent["safety_filters"])), "compliance_mode": "standard", "version": 4}
    assert judge(sent, 3, back) is Verdict.LANDED


# --- put_until_known: the loop, with scripted calls -------------------------------------------------


class Script:
    """put() and read_back() answering from lists, recording the calls."""

    def __init__(self, puts: list[Any], reads: list[Any]) -> None:
        self.puts, self.reads, self.calls = list(puts), list(reads), []

    def put(self) -> dict[str, Any]:
        self.calls.append("PUT")
        return self._next(self.puts)

    def read_back(self) -> dict[str, Any] | None:
        self.calls.append("GET")
        return self._next(self.reads)

    @staticmethod
    def _next(answers: list[Any]) -> Any:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def run(self, guard: int | None = 1) -> Any:
        return put_until_known(self.put, self.read_back, sent=configuration(), guard=guard, url=f"http://127.0.0.1:1{CONFIG_PATH}", log=LOG)


LOST = OutcomeUnknown("PUT: no answer (connection closed without an answer)")
CONFLICT = VersionConflict("PUT was refused (409 conflict)", status=409, code="conflict", context_id="ctx-1")


def test_a_lost_answer_that_landed_is_a_success_read_back_and_never_resent() -> None:
    script = Script([LOST], [live(2)])
    applied = script.run()
    assert (applied.configuration["version"], applied.read_back, applied.resends) == (2, True, 0)
    assert script.calls == ["PUT", "GET"]


def test_a_lost_answer_that_did_not_land_is_resent_with_the_same_guard() -> None:
    script = Script([LOST, live(2)], [live(1, max_tokens=1000)])
    applied = script.run()
    assert (applied.configuration["version"], applied.read_back, applied.resends) == (2, True, 1)
    assert script.calls == ["PUT", "GET", "PUT"]


def test_a_409_on_the_resend_is_read_back_too_the_first_attempt_landed_late() -> None:
    # read back before the first PUT was applied; the resend then meets it as a 409
    script = Script([LOST, CONFLICT], [live(1, max_tokens=1000), live(2)])
    applied = script.run()
    assert (applied.configuration["version"], applied.resends) == (2, 1)
    assert script.calls == ["PUT", "GET", "PUT", "GET"]


def test_a_lost_answer_over_someone_elses_change_is_a_conflict_and_nothing_is_resent() -> None:
    script = Script([LOST], [live(2, max_tokens=700)])
    with pytest.raises(VersionConflict, match=r"not applied: the configuration changed on the gateway since it was read \(sent with version 1; read back: version 2 with other content\)"):
        script.run()
    assert script.calls == ["PUT", "GET"]


def test_a_read_back_that_fails_leaves_the_outcome_unknown() -> None:
    script = Script([LOST], [GatewayError("GET: 500")])
    with pytest.raises(OutcomeUnknown, match="reading the configuration back failed too"):
        script.run()


def test_a_409_to_the_only_attempt_stands_unless_the_change_is_live() -> None:
    refused = Script([CONFLICT], [live(1, max_tokens=1000)])
    with pytest.raises(VersionConflict) as caught:
        refused.run()
    assert caught.value.context_id == "ctx-1" and refused.calls == ["PUT", "GET"]  # the gateway's own 409, not resent
    exact = Script([CONFLICT], [live(2)])  # someone made exactly this change: it is live, recorded as such
    assert exact.run().configuration["version"] == 2
    failed_read = Script([CONFLICT], [GatewayError("GET: 500")])
    with pytest.raises(VersionConflict):  # nothing of ours can have landed: the 409 stands
        failed_read.run()


def test_an_unguarded_put_that_cannot_be_judged_is_unknown() -> None:
    with pytest.raises(OutcomeUnknown, match="without a version guard"):
        Script([LOST], [live(3, max_tokens=700)]).run(guard=None)


def test_resends_are_bounded() -> None:
    script = Script([LOST] * (MAX_RESENDS + 1), [live(1, max_tokens=1000)] * (MAX_RESENDS + 1))
    with pytest.raises(OutcomeUnknown, match=f"resent {MAX_RESENDS} times"):
        script.run()
    assert script.calls.count("PUT") == MAX_RESENDS + 1


# --- every transport failure, placed before or after sending, by real sockets -----------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def one_shot_server() -> Iterator[Callable[[Callable[[socket.socket], None]], int]]:
    """A listener on 127.0.0.1 whose connections are handed to ``handle`` (read the request, then misbehave)."""
    listeners: list[socket.socket] = []

    def start(handle: Callable[[socket.socket], None]) -> int:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listeners.append(listener)

        def serve() -> None:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:  # the headers; the small body comes in the same segments
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                handle(connection)

        threading.Thread(target=serve, daemon=True).start()
        return int(listener.getsockname()[1])

    yield start
    for listener in listeners:
        listener.close()


def attempt(url: str, *, timeout: tuple[float, float] = (2.0, 2.0)) -> requests.RequestException:
    """A PUT through the client's own session (urllib3's retries off); the exception it raises."""
    with _session(1, trust_env=False) as session:
        try:
            _ = session.request("PUT", url, data=b'{"version": 1}', headers={"Content-Type": "application/json"}, timeout=timeout).content
        except requests.RequestException as error:
            return error
    raise AssertionError("the request got an answer")


def reset(connection: socket.socket) -> None:
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # close with RST


@pytest.mark.parametrize(
    ("name", "handle", "cause"),
    [
        ("closed after the request was read", lambda connection: None, Cause.NO_ANSWER),
        ("reset after the request was read", reset, Cause.NO_ANSWER),
        ("headers, then the body cut short", lambda connection: connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"ver"), Cause.NO_ANSWER),
    ],
)
def test_failures_after_the_request_was_sent_are_unknown_outcomes(one_shot_server: Callable[..., int], name: str, handle: Callable[[socket.socket], None], cause: Cause) -> None:
    error = attempt(f"http://127.0.0.1:{one_shot_server(handle)}/x")
    assert not never_sent(error), name
    assert cause_of(error) is cause, (name, error)
    assert not RetryPolicy().is_retryable("PUT", error) and RetryPolicy().is_retryable("GET", error)


def test_a_read_timeout_is_an_unknown_outcome() -> None:
    with socket.socket() as silent:  # listens, the kernel accepts, nobody ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        error = attempt(f"http://127.0.0.1:{silent.getsockname()[1]}/x", timeout=(2.0, 0.2))
    assert isinstance(error, requests.ReadTimeout)
    assert (never_sent(error), cause_of(error)) == (False, Cause.NO_ANSWER)


def test_a_refused_connection_was_never_sent() -> None:
    error = attempt(f"http://127.0.0.1:{closed_port()}/x")
    assert (never_sent(error), cause_of(error)) == (True, Cause.UNREACHABLE)
    assert RetryPolicy().is_retryable("PUT", error)  # safe to send again, whatever the method


def test_a_name_that_does_not_resolve_was_never_sent() -> None:
    error = attempt("http://llmplan-test.invalid/x")
    assert (never_sent(error), cause_of(error)) == (True, Cause.UNREACHABLE)


def test_a_connect_timeout_was_never_sent() -> None:
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)  # one pending connection fills the queue; the next SYN is dropped
        with socket.create_connection(full.getsockname()):
            error = attempt(f"http://127.0.0.1:{full.getsockname()[1]}/x", timeout=(0.2, 2.0))
    assert isinstance(error, requests.ConnectTimeout)
    assert (never_sent(error), cause_of(error)) == (True, Cause.UNREACHABLE)


# --- against the sandbox -----------------------------------------------------------------------


def log_of(admin: Any) -> list[tuple[str, int | None, str]]:
    return [(entry["method"], entry["status"], entry["answer"]) for entry in admin.requests(path_contains=CONFIG_PATH)]


def test_a_lost_answer_to_an_update_is_read_back_as_landed_and_sent_once(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    client = make_client(gateway)
    client.apply_configuration(SUPPORT, configuration(), 0)
    admin.faults(rules=[{"match": {"method": "PUT"}, "effect": "lost_answer", "count": 1}])
    applied = client.apply_configuration(SUPPORT, configuration(max_tokens=1000), 1)
    assert (applied.configuration["version"], applied.configuration["max_tokens"], applied.read_back) == (2, 1000, True)
    assert log_of(admin)[1:] == [("PUT", 200, "lost"), ("GET", 200, "sent")]  # landed once, read back, never resent


def test_a_lost_answer_to_a_first_configuration_is_read_back_as_landed(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    admin.faults(rules=[{"match": {"method": "PUT"}, "effect": "lost_answer", "count": 1}])
    applied = make_client(gateway).apply_configuration(SUPPORT, configuration(), 0)
    assert (applied.configuration["version"], applied.read_back, applied.resends) == (1, True, 0)
    assert log_of(admin) == [("PUT", 200, "lost"), ("GET", 200, "sent")]


def test_a_proxys_504_to_a_put_is_read_back_before_the_guarded_resend(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    admin.faults(rules=[{"match": {"method": "PUT"}, "effect": "status", "status": 504, "count": 1}])
    applied = make_client(gateway).apply_configuration(SUPPORT, configuration(), 0)
    assert (applied.configuration["version"], applied.resends) == (1, 1)
    assert [(method, status) for method, status, _ in log_of(admin)] == [("PUT", 504), ("GET", 404), ("PUT", 200)]


def test_a_503_to_a_put_says_nothing_was_done_so_it_is_resent_as_is(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    admin.faults(rules=[{"match": {"method": "PUT"}, "effect": "status", "status": 503, "count": 1}])
    applied = make_client(gateway).apply_configuration(SUPPORT, configuration(), 0)
    assert (applied.read_back, [(m, s) for m, s, _ in log_of(admin)]) == (False, [("PUT", 503), ("PUT", 200)])


def test_a_dropped_put_over_someone_elses_change_is_a_conflict_and_is_not_resent(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    client = make_client(gateway)
    client.apply_configuration(SUPPORT, configuration(), 0)
    requests.patch(f"{gateway.url}/__sandbox/models/{SUPPORT}/configuration", json={"max_tokens": 700}, timeout=5).raise_for_status()
    admin.faults(rules=[{"match": {"method": "PUT"}, "effect": "drop", "count": 1}])
    with pytest.raises(VersionConflict, match=r"sent with version 1; read back: version 2 with other content"):
        client.apply_configuration(SUPPORT, configuration(max_tokens=1000), 1)
    assert [(m, s) for m, s, _ in log_of(admin)][1:] == [("PUT", None), ("GET", 200)]
    assert client.get_configuration(SUPPORT)["max_tokens"] == 700  # not overwritten


def test_a_lost_answer_whose_read_back_fails_is_unknown_and_never_a_failure(gateway: Any, admin: Any, make_client: Callable[..., Any]) -> None:
    admin.faults(rules=[
        {"match": {"method": "PUT"}, "effect": "lost_answer", "count": 1},
        {"match": {"method": "GET", "path": CONFIG_PATH}, "effect": "status", "status": 500, "count": 1},
    ])
    with pytest.raises(OutcomeUnknown, match="whether it landed is unknown"):
        make_client(gateway).apply_configuration(SUPPORT, configuration(), 0)
    assert log_of(admin) == [("PUT", 200, "lost"), ("GET", 500, "sent")]

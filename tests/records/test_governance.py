"""Governance events: the documented shape, a durable outbox, delivery exactly once.
(The Standard Webhooks signatures: test_governance_signing.py.)"""

from __future__ import annotations

import json
import logging
import socket
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests

from planner import __version__
from planner.adapters.governance import GovernanceNotifier, build_event
from planner.adapters.records.local_outbox import LocalOutbox
from planner.model.errors import ConfigurationError
from planner.sandbox import start_sandbox
from tests.records.records_helpers import append, local_records, queue

CANARY = "canary-hmac-secret-7f3e9c"
WEBHOOK = "/__sandbox/webhook"

CONFIGURATION = {
    "model_id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
    "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.3},
    "safety_filters": [
        {"filter_type": "pii", "action": "redact", "threshold": 85},
        {"filter_type": "self_harm", "action": "block", "threshold": 10},
    ],
    "max_tokens": 2048,
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    with start_sandbox() as running:
        yield running


@pytest.fixture
def receiver(sandbox: Any) -> str:
    """The sandbox's webhook receiver, emptied and without faults."""
    requests.delete(f"{sandbox.url}{WEBHOOK}", timeout=5).raise_for_status()
    requests.delete(f"{sandbox.url}/__sandbox/faults", timeout=5).raise_for_status()
    requests.delete(f"{sandbox.url}/__sandbox/requests", timeout=5).raise_for_status()
    return f"{sandbox.url}{WEBHOOK}"


def deliveries(url: str) -> list[dict[str, Any]]:
    return requests.get(url, timeout=5).json()["deliveries"]


def webhook_attempts(sandbox: Any) -> int:
    log = requests.get(f"{sandbox.url}/__sandbox/requests", timeout=5).json()["requests"]
    return sum(1 for entry in log if entry["path"] == WEBHOOK and entry["method"] == "POST")


def inject(sandbox: Any, **rule: Any) -> None:
    rule.setdefault("match", {"path": WEBHOOK})
    requests.post(f"{sandbox.url}/__sandbox/faults", json={"rules": [rule]}, timeout=5).raise_for_status()


def audited_events(tmp_path: Path, fields: Callable[..., dict[str, Any]], count: int) -> list[dict[str, Any]]:
    entries = append(local_records(tmp_path / "records"), *(fields(index) for index in range(count)))
    return [build_event(entry, CONFIGURATION) for entry in entries]


def test_the_event_has_the_documented_shape(fields: Callable[..., dict[str, Any]]) -> None:
    entry = {**fields(1), "audit_id": "0b6f6a52-7f0e-4c1b-9d7e-2f1a3c4b5d6e", "timestamp": "2026-11-25T10:00:00.000Z"}
    event = build_event(entry, CONFIGURATION)
    assert event == {
        "event_id": "0b6f6a52-7f0e-4c1b-9d7e-2f1a3c4b5d6e",
        "event_type": "llm_config_change",
        "environment": "dev",
        "llmplan_version": __version__,
        "audit_log": entry,
        "configuration_snapshot": {
            "model_id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
            "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.3},
            "safety_filters_count": 2,
            "compliance_mode": "standard",  # the documented default, filled in
        },
    }
    json.dumps(event)  # plain JSON


@pytest.mark.parametrize(
    "url",
    [
        "http://governance.example.com/hooks/llm",  # clear text over a network
        "ftp://127.0.0.1/hook",  # not http at all
        "https:///no-host",
    ],
)
def test_an_insecure_or_invalid_webhook_url_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigurationError):
        GovernanceNotifier(url, LocalOutbox(tmp_path / "outbox.jsonl"))


@pytest.mark.parametrize("url", ["https://governance.example.com/hooks/llm", "http://127.0.0.1:9/hook", "http://localhost/hook", "http://[::1]:9/hook"])
def test_https_or_loopback_webhooks_are_accepted(tmp_path: Path, url: str) -> None:
    notifier = GovernanceNotifier(url, LocalOutbox(tmp_path / "outbox.jsonl"))  # not refused
    assert notifier.webhook_url == url and notifier.pending() == []


def test_a_token_in_the_webhook_path_never_reaches_an_error_or_repr(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as refused:
        GovernanceNotifier("http://hooks.example.com/services/T000/TOKEN-IN-PATH", LocalOutbox(tmp_path / "outbox.jsonl"))
    assert "TOKEN-IN-PATH" not in str(refused.value)
    notifier = GovernanceNotifier("https://hooks.example.com/services/T000/TOKEN-IN-PATH", LocalOutbox(tmp_path / "outbox.jsonl"), secret=CANARY)
    assert "TOKEN-IN-PATH" not in repr(notifier) and CANARY not in repr(notifier)


def test_the_outbox_is_durable_before_any_send(tmp_path: Path, fields: Callable[..., dict[str, Any]]) -> None:
    events = audited_events(tmp_path, fields, 2)
    notifier = GovernanceNotifier("https://governance.invalid/hook", LocalOutbox(tmp_path / "outbox.jsonl"))
    for event in events:
        queue(notifier.outbox, event)
    on_disk = [json.loads(line) for line in (tmp_path / "outbox.jsonl").read_text().splitlines()]
    assert on_disk == events
    later = GovernanceNotifier("https://governance.invalid/hook", LocalOutbox(tmp_path / "outbox.jsonl"))  # after a crash
    assert later.pending() == events


def test_failed_deliveries_stay_queued_and_flush_sends_each_once(
    tmp_path: Path, sandbox: Any, receiver: str, fields: Callable[..., dict[str, Any]]
) -> None:
    events = audited_events(tmp_path, fields, 3)
    notifier = GovernanceNotifier(receiver, LocalOutbox(tmp_path / "outbox.jsonl"), secret=CANARY)
    inject(sandbox, effect="status", status=500, count=3)
    for event in events:
        queue(notifier.outbox, event)
        assert notifier.deliver(event) is False  # never raises into apply
    assert [event["event_id"] for event in notifier.pending()] == [event["event_id"] for event in events]
    assert deliveries(receiver) == []

    result = notifier.flush()
    assert (result.delivered, result.failed, result.remaining) == (3, 0, 0)
    assert [delivery["body"]["event_id"] for delivery in deliveries(receiver)] == [event["event_id"] for event in events]

    again = notifier.flush()
    assert (again.delivered, again.failed, again.remaining) == (0, 0, 0)
    assert len(deliveries(receiver)) == 3
    assert not (tmp_path / "outbox.jsonl").exists()  # compacted away


def test_a_flush_tries_each_event_at_most_once_in_order(
    tmp_path: Path, sandbox: Any, receiver: str, fields: Callable[..., dict[str, Any]]
) -> None:
    events = audited_events(tmp_path, fields, 3)
    notifier = GovernanceNotifier(receiver, LocalOutbox(tmp_path / "outbox.jsonl"))
    for event in events:
        queue(notifier.outbox, event)
    inject(sandbox, effect="status", status=500, count=2)

    result = notifier.flush()
    assert (result.delivered, result.failed, result.remaining) == (1, 2, 2)
    assert webhook_attempts(sandbox) == 3
    assert [delivery["body"]["event_id"] for delivery in deliveries(receiver)] == [events[2]["event_id"]]
    assert [event["event_id"] for event in notifier.pending()] == [events[0]["event_id"], events[1]["event_id"]]

    assert notifier.flush().delivered == 2
    assert [delivery["body"]["event_id"] for delivery in deliveries(receiver)] == [events[2]["event_id"], events[0]["event_id"], events[1]["event_id"]]


class CountingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.posts = 0

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.posts += 1
        return super().post(*args, **kwargs)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_receiver_down_then_up_delivers_exactly_once(tmp_path: Path, fields: Callable[..., dict[str, Any]]) -> None:
    port = closed_port()
    url = f"http://127.0.0.1:{port}{WEBHOOK}"
    (event,) = audited_events(tmp_path, fields, 1)
    notifier = GovernanceNotifier(url, LocalOutbox(tmp_path / "outbox.jsonl"))
    queue(notifier.outbox, event)
    started = time.monotonic()
    assert notifier.deliver(event) is False
    assert time.monotonic() - started < 2.0
    assert notifier.pending() == [event]
    assert notifier.flush().remaining == 1  # still down

    with start_sandbox(port=port) as sandbox:
        later = GovernanceNotifier(url, LocalOutbox(tmp_path / "outbox.jsonl"))  # the next run
        result = later.flush()
        assert (result.delivered, result.remaining) == (1, 0)
        assert later.flush().delivered == 0
        assert [delivery["body"] for delivery in deliveries(f"{sandbox.url}{WEBHOOK}")] == [event]


def test_after_an_unreachable_receiver_deliver_only_queues_for_a_while(tmp_path: Path, fields: Callable[..., dict[str, Any]], clock) -> None:
    url = f"http://127.0.0.1:{closed_port()}{WEBHOOK}"
    events = audited_events(tmp_path, fields, 3)
    session = CountingSession()
    notifier = GovernanceNotifier(url, LocalOutbox(tmp_path / "outbox.jsonl"), session=session, pause_after_unreachable=30.0, clock=clock)
    for event in events:
        queue(notifier.outbox, event)
        assert notifier.deliver(event) is False
    assert session.posts == 1  # one timeout-bound attempt, not one per model
    clock.now += 31
    assert notifier.deliver(events[0]) is False
    assert session.posts == 2
    assert len(notifier.pending()) == 3


def test_a_receiver_slower_than_the_timeout_is_a_failed_delivery(
    tmp_path: Path, sandbox: Any, receiver: str, fields: Callable[..., dict[str, Any]]
) -> None:
    (event,) = audited_events(tmp_path, fields, 1)
    inject(sandbox, effect="slow_body", delay_ms=60_000, count=1)
    notifier = GovernanceNotifier(receiver, LocalOutbox(tmp_path / "outbox.jsonl"), timeout=0.3)
    queue(notifier.outbox, event)
    started = time.monotonic()
    assert notifier.deliver(event) is False
    assert time.monotonic() - started < 30  # the 0.3 s timeout, not the minute the body takes
    assert notifier.pending() == [event]


def test_a_torn_outbox_line_is_dropped_before_the_next_append(tmp_path: Path, fields: Callable[..., dict[str, Any]], caplog: pytest.LogCaptureFixture) -> None:
    first, second = audited_events(tmp_path, fields, 2)
    notifier = GovernanceNotifier("https://governance.invalid/hook", LocalOutbox(tmp_path / "outbox.jsonl"))
    queue(notifier.outbox, first)
    with open(tmp_path / "outbox.jsonl", "ab") as handle:
        handle.write(b'{"event_id":"x","ev')
    later = GovernanceNotifier("https://governance.invalid/hook", LocalOutbox(tmp_path / "outbox.jsonl"))
    assert later.pending() == [first]
    queue(later.outbox, second)
    assert later.pending() == [first, second]
    assert any("torn last line" in record.getMessage() for record in caplog.records)


def test_the_secret_appears_in_no_file_and_no_log(
    tmp_path: Path, sandbox: Any, receiver: str, fields: Callable[..., dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    events = audited_events(tmp_path, fields, 3)
    notifier = GovernanceNotifier(receiver, LocalOutbox(tmp_path / "outbox.jsonl"), secret=CANARY)
    down = GovernanceNotifier(f"http://127.0.0.1:{closed_port()}/hook", LocalOutbox(tmp_path / "down" / "outbox.jsonl"), secret=CANARY)
    inject(sandbox, effect="status", status=500, count=1)
    for event in events:
        for target in (notifier, down):
            queue(target.outbox, event)
            target.deliver(event)
    notifier.flush()
    down.flush()

    assert any("not delivered" in record.getMessage() for record in caplog.records)
    for record in caplog.records:
        assert CANARY not in record.getMessage()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
    assert CANARY not in repr(notifier)


def test_a_torn_delivered_mark_is_cut_before_the_next_mark(tmp_path: Path, receiver: str, fields: Callable[..., dict[str, Any]]) -> None:
    first, second = audited_events(tmp_path, fields, 2)
    notifier = GovernanceNotifier(receiver, LocalOutbox(tmp_path / "outbox.jsonl"))
    queue(notifier.outbox, first)
    queue(notifier.outbox, second)
    assert notifier.deliver(first)
    with open(tmp_path / "outbox.jsonl.delivered", "ab") as handle:
        handle.write(b'{"event_id":"')  # a crash while marking the second one
    later = GovernanceNotifier(receiver, LocalOutbox(tmp_path / "outbox.jsonl"))
    assert later.pending() == [second]
    assert later.deliver(second)
    assert later.pending() == []
    assert len(deliveries(receiver)) == 2

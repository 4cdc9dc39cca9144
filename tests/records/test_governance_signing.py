"""Governance deliveries are signed per the Standard Webhooks specification: every
delivery the notifier really sends to the sandbox's receiver verifies with the
reference library ``standardwebhooks`` and with the receiver's own check; a resend
keeps its id; a changed byte or a stale timestamp fails."""

from __future__ import annotations

import base64
import json
import socket
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import requests
from standardwebhooks import Webhook, WebhookVerificationError

from planner.adapters.governance import GovernanceNotifier, build_event
from planner.adapters.records.local_outbox import LocalOutbox
from planner.model import schemas
from planner.model.errors import ConfigurationError
from tests.records.records_helpers import append, local_records, queue

SECRET = "whsec_" + base64.b64encode(b"governance-signing-test-key-32by").decode()
PLAIN = "a-plain-governance-secret"
WEBHOOK = "/__sandbox/webhook"
CONFIGURATION = {
    "model_id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
    "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.3},
    "safety_filters": [{"filter_type": "pii", "action": "redact", "threshold": 85}],
    "max_tokens": 2048,
}


class WallClock:
    """Real time, shifted by ``offset`` seconds: a send "later" or "earlier" without waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def receiver(make_sandbox: Callable[..., Any]) -> str:
    """The sandbox's receiver, verifying with SECRET."""
    return make_sandbox(catalog=False, webhook_secret=SECRET).url + WEBHOOK


def deliveries(url: str) -> list[dict[str, Any]]:
    return requests.get(url, timeout=5).json()["deliveries"]


def events(tmp_path: Path, fields: Callable[..., dict[str, Any]], *statuses: str) -> list[dict[str, Any]]:
    """One event per status, from real audit entries."""
    entries = append(local_records(tmp_path / "records"), *(fields(index, status=status) for index, status in enumerate(statuses)))
    return [build_event(entry, CONFIGURATION) for entry in entries]


def library_verifies(delivery: dict[str, Any], secret: str | bytes = SECRET, body: bytes | None = None) -> dict[str, Any]:
    """What the reference library returns for a recorded delivery (raises if it does not verify)."""
    return Webhook(secret).verify(delivery["raw"].encode() if body is None else body, delivery["headers"])


def header(delivery: dict[str, Any], name: str) -> str:
    return {key.lower(): value for key, value in delivery["headers"].items()}[name]


def test_every_delivery_verifies_with_the_library_and_the_receiver(tmp_path: Path, receiver: str, fields: Callable[..., dict[str, Any]]) -> None:
    sent = events(tmp_path, fields, "success", "failure", "success")
    notifier = GovernanceNotifier(receiver, LocalOutbox(tmp_path / "outbox.jsonl"), secret=SECRET)
    for event in sent:
        queue(notifier.outbox, event)
        assert notifier.deliver(event)

    received = deliveries(receiver)
    assert [delivery["body"] for delivery in received] == sent
    validator = schemas.validator(schemas.GOVERNANCE_EVENT)
    for delivery, event in zip(received, sent, strict=True):
        assert library_verifies(delivery) == event
        assert (delivery["verified"], delivery["verification_error"]) == (True, None)
        assert header(delivery, "webhook-id") == event["event_id"]
        assert abs(int(header(delivery, "webhook-timestamp")) - time.time()) < 300
        assert not [name for name in delivery["headers"] if name.lower().startswith("x-llmplan")]  # the old scheme is gone
        assert list(validator.iter_errors(delivery["body"])) == []
    failed = received[1]["body"]["audit_log"]
    assert (failed["status"], failed["error"]) == ("failed", "max_tokens 9000 exceeds model capability limit of 4096")


def test_a_resent_event_keeps_its_id_and_is_signed_afresh(tmp_path: Path, receiver: str, fields: Callable[..., dict[str, Any]]) -> None:
    (event,) = events(tmp_path, fields, "success")
    clock = WallClock()
    notifier = GovernanceNotifier(receiver, LocalOutbox(tmp_path / "outbox.jsonl"), secret=SECRET, wall_clock=clock)
    queue(notifier.outbox, event)
    assert notifier.deliver(event)
    (tmp_path / "outbox.jsonl.delivered").unlink()  # a crash before the delivery was marked: it is sent again
    clock.offset = 90.0  # a minute and a half later
    assert notifier.flush().delivered == 1

    first, again = deliveries(receiver)
    assert header(first, "webhook-id") == header(again, "webhook-id") == event["event_id"]  # receivers deduplicate by it
    assert int(header(again, "webhook-timestamp")) - int(header(first, "webhook-timestamp")) in (89, 90, 91)
    assert header(first, "webhook-signature") != header(again, "webhook-signature")
    assert first["raw"] == again["raw"]
    for delivery in (first, again):
        assert library_verifies(delivery) == event
        assert delivery["verified"] is True


def test_an_event_queued_long_ago_verifies_when_flushed(tmp_path: Path, receiver: str, fields: Callable[..., dict[str, Any]]) -> None:
    (event,) = events(tmp_path, fields, "success")
    clock = WallClock()
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{probe.getsockname()[1]}{WEBHOOK}"
    notifier = GovernanceNotifier(down, LocalOutbox(tmp_path / "outbox.jsonl"), secret=SECRET, wall_clock=clock)
    queue(notifier.outbox, event)
    clock.offset = -3 * 3600  # queued three hours ago, the receiver unreachable then
    assert notifier.deliver(event) is False

    clock.offset = 0.0
    later = GovernanceNotifier(receiver, LocalOutbox(tmp_path / "outbox.jsonl"), secret=SECRET, wall_clock=clock)  # governance flush, now
    assert later.flush().delivered == 1
    (delivery,) = deliveries(receiver)
    assert library_verifies(delivery) == event  # the timestamp is the send time, not the event's
    assert delivery["verified"] is True


def test_a_body_changed_by_one_byte_fails(tmp_path: Path, receiver: str, fields: Callable[..., dict[str, Any]]) -> None:
    (event,) = events(tmp_path, fields, "success")
    notifier = GovernanceNotifier(receiver, LocalOutbox(tmp_path / "outbox.jsonl"), secret=SECRET)
    queue(notifier.outbox, event)
    assert notifier.deliver(event)
    (delivery,) = deliveries(receiver)
    original = delivery["raw"].encode()
    tampered = original.replace(b'"strict"', b'"strics"', 1)
    assert len(tampered) == len(original) and sum(a != b for a, b in zip(tampered, original, strict=True)) == 1

    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        library_verifies(delivery, body=tampered)
    # the same headers with the changed body, replayed to the receiver
    requests.post(receiver, data=tampered, headers=delivery["headers"], timeout=5).raise_for_status()
    replayed = deliveries(receiver)[-1]
    assert replayed["verified"] is False and "matches" in replayed["verification_error"]


def test_a_timestamp_older_than_the_tolerance_fails(tmp_path: Path, receiver: str, fields: Callable[..., dict[str, Any]]) -> None:
    (event,) = events(tmp_path, fields, "success")
    clock = WallClock()
    clock.offset = -10 * 60  # sent ten minutes ago: what a replay of a captured delivery looks like now
    notifier = GovernanceNotifier(receiver, LocalOutbox(tmp_path / "outbox.jsonl"), secret=SECRET, wall_clock=clock)
    queue(notifier.outbox, event)
    assert notifier.deliver(event)

    (delivery,) = deliveries(receiver)
    with pytest.raises(WebhookVerificationError, match="too old"):
        library_verifies(delivery)
    assert delivery["verified"] is False and "more than the 300 s tolerance" in delivery["verification_error"]


def test_during_a_rotation_both_keys_sign_and_either_verifies(tmp_path: Path, make_sandbox: Callable[..., Any], fields: Callable[..., dict[str, Any]]) -> None:
    new_only = make_sandbox(catalog=False, webhook_secret=PLAIN).url + WEBHOOK  # a receiver already on the new key
    (event,) = events(tmp_path, fields, "success")
    notifier = GovernanceNotifier(new_only, LocalOutbox(tmp_path / "outbox.jsonl"), secret=f"{SECRET} {PLAIN}")
    queue(notifier.outbox, event)
    assert notifier.deliver(event)

    (delivery,) = deliveries(new_only)
    assert len(header(delivery, "webhook-signature").split(" ")) == 2
    assert delivery["verified"] is True
    assert library_verifies(delivery, SECRET) == event  # the old key, written whsec_
    assert library_verifies(delivery, PLAIN.encode()) == event  # the new one, plain: its bytes are the key


def test_without_a_secret_there_is_an_id_and_a_time_but_no_signature(tmp_path: Path, receiver: str, fields: Callable[..., dict[str, Any]]) -> None:
    (event,) = events(tmp_path, fields, "success")
    notifier = GovernanceNotifier(receiver, LocalOutbox(tmp_path / "outbox.jsonl"))
    queue(notifier.outbox, event)
    assert notifier.deliver(event)
    (delivery,) = deliveries(receiver)
    assert header(delivery, "webhook-id") == event["event_id"]
    assert header(delivery, "webhook-timestamp").isdigit()
    assert "webhook-signature" not in {name.lower() for name in delivery["headers"]}
    assert delivery["verified"] is False and delivery["verification_error"] == "missing header webhook-signature"


def test_a_malformed_secret_is_refused_before_anything_is_queued(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as refused:
        GovernanceNotifier("https://governance.example.com/hook", LocalOutbox(tmp_path / "outbox.jsonl"), secret="whsec_!!canary-value!!")
    assert "the governance signing secret (governance.secret_env) starts with whsec_ but what follows is not base64" in str(refused.value)
    assert "canary-value" not in f"{refused.value} {refused.value.hint}"
    assert not (tmp_path / "outbox.jsonl").exists()


def test_the_event_of_a_pending_entry_does_not_exist(tmp_path: Path, fields: Callable[..., dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match="status 'pending' has no governance event"):
        events(tmp_path, fields, "pending")


def test_the_documented_event_example_is_valid(tmp_path: Path, fields: Callable[..., dict[str, Any]]) -> None:
    # the schema accepts what build_event makes, and refuses what the seed's shape forbids
    validator = schemas.validator(schemas.GOVERNANCE_EVENT)
    success, failure = events(tmp_path, fields, "success", "failure")
    assert list(validator.iter_errors(success)) == [] and list(validator.iter_errors(failure)) == []
    without_error = json.loads(json.dumps(failure))
    del without_error["audit_log"]["error"]
    assert [error.message for error in validator.iter_errors(without_error)] == ["'error' is a required property"]
    assert list(validator.iter_errors({**success, "event_type": "something_else"})) != []

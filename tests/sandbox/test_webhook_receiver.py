"""The sandbox's governance receiver verifies Standard Webhooks signatures when given
the secret, and records its verdict with each delivery. Deliveries here are signed
by the reference library ``standardwebhooks``, not by llmplan: the receiver agrees
with an independent signer.

Every delivery here is signed at the fixed instant ``SENT`` and the receiver's
clock reads ``SENT``: a delivery's age is the one the test gives it, however
long after collection the suite reaches this file (a busy machine once took
more than the 300 s tolerance, and the "as signed" cases failed as stale)."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest
import requests
from standardwebhooks import Webhook

from planner.sandbox import SandboxError

SECRET = "whsec_" + base64.b64encode(b"sandbox-receiver-test-key-32-byt").decode()
BODY = '{"event_id":"0b6f6a52-7f0e-4c1b-9d7e-2f1a3c4b5d6e","event_type":"llm_config_change"}'
SENT = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)


def receiver(make_sandbox: Callable[..., Any], **options: Any) -> Any:
    """A sandbox without the demo catalog whose receiver's clock stands at ``SENT``."""
    return make_sandbox(catalog=False, wall_clock=SENT.timestamp, **options)


def signed(body: str = BODY, *, secret: str | bytes = SECRET, msg_id: str = "0b6f6a52-7f0e-4c1b-9d7e-2f1a3c4b5d6e", age: timedelta = timedelta(0)) -> dict[str, str]:
    sent = SENT - age
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, sent, body),
    }


def receive(url: str, headers: dict[str, str], body: str = BODY) -> dict[str, Any]:
    """POST one delivery; what the receiver recorded of it."""
    requests.delete(f"{url}/__sandbox/webhook", timeout=5).raise_for_status()
    answer = requests.post(f"{url}/__sandbox/webhook", data=body.encode(), headers=headers, timeout=5)
    assert answer.json() == {"received": True}  # recorded and accepted whatever the verdict
    (delivery,) = requests.get(f"{url}/__sandbox/webhook", timeout=5).json()["deliveries"]
    return delivery


@pytest.mark.parametrize(
    ("headers", "body", "verified", "reason"),
    [
        (signed(), BODY, True, None),  # as signed
        (signed(), BODY.replace("llm", "LLM", 1), False, "matches"),  # the body changed after signing
        (signed(age=timedelta(minutes=10)), BODY, False, "s old, more than the 300 s tolerance"),  # replayed ten minutes later
        (signed(secret=b"another key entirely, 32 bytes.."), BODY, False, "matches"),  # signed with another secret
        ({"Content-Type": "application/json"}, BODY, False, "missing header webhook-id, webhook-timestamp, webhook-signature"),
    ],
)
def test_a_receiver_given_the_secret_records_whether_each_delivery_verifies(
    make_sandbox: Callable[..., Any], headers: dict[str, str], body: str, verified: bool, reason: str | None
) -> None:
    sandbox = receiver(make_sandbox, webhook_secret=SECRET)
    delivery = receive(sandbox.url, headers, body)
    assert delivery["verified"] is verified
    if reason is None:
        assert delivery["verification_error"] is None
    else:
        assert reason in delivery["verification_error"]


def test_a_receiver_mid_rotation_accepts_the_old_and_the_new_key(make_sandbox: Callable[..., Any]) -> None:
    new = "whsec_" + base64.b64encode(b"the-new-key-after-rotation-32byt").decode()
    sandbox = receiver(make_sandbox, webhook_secret=f"{SECRET} {new}")
    assert receive(sandbox.url, signed(secret=SECRET))["verified"] is True
    assert receive(sandbox.url, signed(secret=new))["verified"] is True


def test_a_plain_secret_is_its_bytes(make_sandbox: Callable[..., Any]) -> None:
    sandbox = receiver(make_sandbox, webhook_secret="plain-secret-for-the-receiver")
    assert receive(sandbox.url, signed(secret=b"plain-secret-for-the-receiver"))["verified"] is True


def test_without_a_secret_deliveries_are_recorded_unchecked(make_sandbox: Callable[..., Any]) -> None:
    delivery = receive(receiver(make_sandbox).url, signed())
    assert (delivery["verified"], delivery["verification_error"]) == (None, None)


def test_the_verdict_never_quotes_the_secret(make_sandbox: Callable[..., Any]) -> None:
    sandbox = receiver(make_sandbox, webhook_secret="plain-receiver-secret-canary")
    delivery = receive(sandbox.url, signed(secret=b"something else"))
    assert delivery["verified"] is False
    assert "plain-receiver-secret-canary" not in requests.get(f"{sandbox.url}/__sandbox/webhook", timeout=5).text


def test_a_malformed_secret_stops_the_sandbox_from_starting(make_sandbox: Callable[..., Any]) -> None:
    with pytest.raises(SandboxError) as refused:
        make_sandbox(catalog=False, webhook_secret="whsec_***not-base64***")
    assert "the sandbox's webhook secret starts with whsec_ but what follows is not base64" in str(refused.value)
    assert "not-base64***" not in str(refused.value)

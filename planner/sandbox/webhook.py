"""The sandbox's governance receiver checks each delivery's Standard Webhooks signature.

Given the secret llmplan signs with (``llmplan sandbox serve --webhook-secret``,
``$LLMPLAN_SANDBOX_WEBHOOK_SECRET`` or ``start_sandbox(webhook_secret=…)``),
``POST /__sandbox/webhook`` records with each delivery whether it verifies,
exactly as a governance platform's receiver would decide: the three
``webhook-*`` headers, a timestamp within five minutes, a matching ``v1``
signature over the exact body bytes. It records and answers 200 either way,
so a test or the demo can show what a wrong secret or an edited body looks
like; without a secret the verdict is ``null`` (not checked).

Written from the specification (https://www.standardwebhooks.com/), not with
llmplan's own signing code: a receiver that shared the sender's code would
share its mistakes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from planner.sandbox.errors import SandboxError

TOLERANCE_SECONDS = 5 * 60  # what the specification's libraries allow between the sender's clock and ours


@dataclass(frozen=True)
class WebhookVerifier:
    """The receiver's keys (none: deliveries are recorded unchecked)."""

    keys: tuple[bytes, ...] = field(default=(), repr=False)

    @classmethod
    def from_secret(cls, secret: str | None) -> "WebhookVerifier":
        """Keys from a secret written as llmplan reads it: ``whsec_<base64>`` or plain text, two separated by a space during a rotation."""
        if not secret:
            return cls()
        parts = secret.split()
        if len(parts) > 2:
            raise SandboxError("the sandbox's webhook secret holds more than two space-separated values", hint="give one secret, or the old and the new one")
        return cls(tuple(_key(part) for part in parts))

    def verdict(self, headers: Iterable[tuple[str, str]], body: bytes, *, now: float) -> dict[str, Any]:
        """The fields recorded with a delivery: ``verified`` (true, false, or null when
        not checked) and ``verification_error`` (why not, or null)."""
        if not self.keys:
            return {"verified": None, "verification_error": None}
        problem = self._problem({name.lower(): value for name, value in headers}, body, now)
        return {"verified": problem is None, "verification_error": problem}

    def _problem(self, headers: dict[str, str], body: bytes, now: float) -> str | None:
        missing = [name for name in ("webhook-id", "webhook-timestamp", "webhook-signature") if not headers.get(name)]
        if missing:
            return f"missing header {', '.join(missing)}"
        stamp = headers["webhook-timestamp"].strip()
        if not (stamp.isascii() and stamp.isdigit()):
            return "webhook-timestamp is not whole seconds since the epoch"
        sent = int(stamp)
        if sent < now - TOLERANCE_SECONDS:
            return f"webhook-timestamp is {math.floor(now - sent)} s old, more than the {TOLERANCE_SECONDS} s tolerance (a replayed or long-delayed delivery)"
        if sent > now + TOLERANCE_SECONDS:
            return f"webhook-timestamp is {math.ceil(sent - now)} s in the future, more than the {TOLERANCE_SECONDS} s tolerance"
        content = f"{headers['webhook-id']}.{sent}.".encode() + body
        expected = [hmac.new(key, content, hashlib.sha256).digest() for key in self.keys]
        offered = [value for version, _, value in (token.partition(",") for token in headers["webhook-signature"].split()) if version == "v1"]
        if not offered:
            return "webhook-signature has no v1 signature"
        for value in offered:
            try:
                candidate = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                continue
            if any(hmac.compare_digest(candidate, digest) for digest in expected):
                return None
        return f"none of the {len(offered)} v1 signature(s) matches the body with the receiver's key(s)"


def _key(secret: str) -> bytes:
    if not secret.startswith("whsec_"):
        return secret.encode("utf-8")
    encoded = secret[len("whsec_") :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SandboxError("the sandbox's webhook secret starts with whsec_ but what follows is not base64") from None
    if not key:
        raise SandboxError("the sandbox's webhook secret is whsec_ with no key after it")
    return key

"""The sandbox's governance receiver checks each delivery's Standard Webhooks signature.

Given the secret llmplan signs with (``llmplan sandbox serve --webhook-secret``,
``$LLMPLAN_SANDBOX_WEBHOOK_SECRET`` or ``start_sandbox(webhook_secret=…)``),
``POST /__sandbox/webhook`` records with each delivery whether it verifies,
exactly as a governance platform's receiver would decide: the three
``webhook-*`` headers, a timestamp within five minutes, a matching ``v1``
signature over the exact body bytes. It records and answers 200 either way,
so a test or the demo can show what a wrong secret or an edited body looks
like; without a secret the verdict is ``null`` (not checked).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from planner.model.errors import ConfigurationError
from planner.sandbox.errors import SandboxError
from planner.adapters.signing import SigningKeys, parse_secrets, verify


@dataclass(frozen=True)
class WebhookVerifier:
    """The receiver's keys (none: deliveries are recorded unchecked)."""

    keys: SigningKeys | None = None

    @classmethod
    def from_secret(cls, secret: str | None) -> "WebhookVerifier":
        """Keys from a secret written as llmplan reads it (``whsec_…`` or plain, two for a rotation)."""
        if not secret:
            return cls()
        try:
            return cls(parse_secrets(secret, source="the sandbox's webhook secret"))
        except ConfigurationError as error:
            raise SandboxError(error.message, hint=error.hint) from None

    def verdict(self, headers: Iterable[tuple[str, str]], body: bytes, *, now: float) -> dict[str, Any]:
        """The fields recorded with a delivery: ``verified`` (true, false, or null when
        not checked) and ``verification_error`` (why not, or null)."""
        if self.keys is None:
            return {"verified": None, "verification_error": None}
        outcome = verify(self.keys, dict(headers), body, now=now)
        return {"verified": outcome.verified, "verification_error": outcome.reason or None}

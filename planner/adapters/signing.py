"""Standard Webhooks signatures (https://www.standardwebhooks.com/): pure functions, no I/O.

A signed delivery carries three headers:

- ``webhook-id``: the event's stable id, the same on every retry, so a
  receiver can drop duplicates;
- ``webhook-timestamp``: when this attempt was sent, whole seconds since the
  Unix epoch, so a receiver can refuse a replayed old delivery;
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``,
  one per key and space-separated, so a receiver verifies during a key
  rotation with either the old key or the new one.

A secret is written ``whsec_<base64>`` (the specification's form: the key is
the decoded bytes) or as a plain string (its UTF-8 bytes are the key). Key
material never appears in a repr, an error message or a log line. The
verification libraries of the specification (``standardwebhooks``, ``svix``
and their counterparts in other languages) accept what :func:`webhook_headers`
produces; the tests use ``standardwebhooks`` as the oracle.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
from dataclasses import dataclass, field
from typing import Mapping

from planner.model.errors import ConfigurationError

SECRET_PREFIX = "whsec_"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SIGNATURE_VERSION = "v1"
# The specification's libraries refuse a timestamp further than this from their clock.
TOLERANCE_SECONDS = 5 * 60
MAX_KEYS = 2  # one secret, or the old and the new one while rotating


@dataclass(frozen=True)
class SigningKeys:
    """The HMAC keys a delivery is signed with, in the order they were written."""

    keys: tuple[bytes, ...] = field(repr=False)

    def __repr__(self) -> str:
        return f"SigningKeys({len(self.keys)} key{'s' if len(self.keys) != 1 else ''})"


@dataclass(frozen=True)
class Verdict:
    """Whether a delivery verified; ``reason`` says why not (never quotes a key)."""

    verified: bool
    reason: str = ""


_ORDINALS = ("first", "second")


def parse_secrets(text: str, *, source: str = "the webhook signing secret") -> SigningKeys:
    """The keys of a secret setting: one secret, or two separated by whitespace.

    Raises :class:`ConfigurationError` naming ``source`` (never the value)
    when the setting is empty, holds more than two secrets, or has a
    ``whsec_`` secret that is not base64.
    """
    parts = text.split()
    if not parts:
        raise ConfigurationError(f"{source} is empty")
    if len(parts) > MAX_KEYS:
        raise ConfigurationError(
            f"{source} holds {len(parts)} space-separated values; it may hold one secret, or two while rotating keys",
            hint="a secret cannot contain spaces; write it as whsec_<base64>, or separate the old and the new secret by one space",
        )
    which = [f"{source}" if len(parts) == 1 else f"the {_ORDINALS[index]} secret of {source}" for index in range(len(parts))]
    return SigningKeys(tuple(_key(part, name) for part, name in zip(parts, which, strict=True)))


def _key(part: str, name: str) -> bytes:
    if not part.startswith(SECRET_PREFIX):
        return part.encode("utf-8")
    encoded = part[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            f"{name} starts with {SECRET_PREFIX} but what follows is not base64",
            hint=f"{SECRET_PREFIX} secrets are {SECRET_PREFIX} followed by the standard base64 of the key bytes",
        ) from None
    if not key:
        raise ConfigurationError(f"{name} is {SECRET_PREFIX} with no key after it")
    return key


def signed_content(msg_id: str, timestamp: int, body: bytes) -> bytes:
    """What is signed: ``id.timestamp.body``, the body as the exact bytes sent."""
    return f"{msg_id}.{timestamp}.".encode("utf-8") + body


def _signature(key: bytes, content: bytes) -> str:
    return base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode("ascii")


def sign(keys: SigningKeys, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,<base64>`` per key, space-separated."""
    content = signed_content(msg_id, timestamp, body)
    return " ".join(f"{SIGNATURE_VERSION},{_signature(key, content)}" for key in keys.keys)


def webhook_headers(msg_id: str, sent_at: float, body: bytes, keys: SigningKeys | None) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt; unsigned (id and timestamp only) without keys."""
    if not msg_id:
        raise ValueError("a webhook message needs a non-empty id")
    timestamp = math.floor(sent_at)
    headers = {ID_HEADER: msg_id, TIMESTAMP_HEADER: str(timestamp)}
    if keys is not None:
        headers[SIGNATURE_HEADER] = sign(keys, msg_id, timestamp, body)
    return headers


def verify(keys: SigningKeys, headers: Mapping[str, str], body: bytes, *, now: float, tolerance: float = TOLERANCE_SECONDS) -> Verdict:
    """Check a received delivery as the specification's libraries do.

    Verified when the three headers are present, the timestamp is within
    ``tolerance`` seconds of ``now``, and one ``v1`` signature matches one key.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    missing = [name for name in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER) if not lowered.get(name)]
    if missing:
        return Verdict(False, f"missing header {', '.join(missing)}")
    msg_id, stamp = lowered[ID_HEADER], lowered[TIMESTAMP_HEADER].strip()
    if not stamp.isdigit() or not stamp.isascii():
        return Verdict(False, f"{TIMESTAMP_HEADER} is not whole seconds since the epoch")
    timestamp = int(stamp)
    if timestamp < now - tolerance:
        return Verdict(False, f"{TIMESTAMP_HEADER} is {math.floor(now - timestamp)} s old, more than the {tolerance:g} s tolerance (a replayed or long-delayed delivery)")
    if timestamp > now + tolerance:
        return Verdict(False, f"{TIMESTAMP_HEADER} is {math.ceil(timestamp - now)} s in the future, more than the {tolerance:g} s tolerance")
    content = signed_content(msg_id, timestamp, body)
    expected = [base64.b64decode(_signature(key, content)) for key in keys.keys]
    offered = 0
    for token in lowered[SIGNATURE_HEADER].split():
        version, _, value = token.partition(",")
        if version != SIGNATURE_VERSION:
            continue
        offered += 1
        try:
            candidate = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if any(hmac.compare_digest(candidate, digest) for digest in expected):
            return Verdict(True)
    if not offered:
        return Verdict(False, f"{SIGNATURE_HEADER} has no {SIGNATURE_VERSION} signature")
    return Verdict(False, f"none of the {offered} {SIGNATURE_VERSION} signature(s) matches the body with the receiver's key(s)")

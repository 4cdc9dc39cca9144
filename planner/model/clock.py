"""The one way llmplan writes a time: RFC 3339, UTC, milliseconds, ``Z``."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

"""Fault injection and rate limiting: what goes wrong, decided reproducibly.

Fault settings are plain data (:class:`FaultSettings`), parsed from the JSON
body of ``POST /__sandbox/faults`` or from the ``serve`` flags.  The
:class:`FaultInjector` decides for each request whether a rule fires, with a
``random.Random`` seeded from the settings and guarded by a lock, so a test
that sends the same requests in the same order sees the same faults.  The
:class:`RateLimiter` is a fixed-window budget per client with an injectable
clock, so tests move time instead of sleeping.

Where faults apply: a rule without ``match.path`` covers the gateway API
(``/api/v2/…`` except the docs).  A rule with a ``path`` glob (fnmatch, on
the URL path without the query) covers what it matches among the API, the
token endpoint and the webhook receiver.  The other ``/__sandbox/`` endpoints
are never faulted, so a test can always inspect and reset the sandbox.
"""

from __future__ import annotations

import fnmatch
import math
import random
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from planner.sandbox import openapi
from planner.sandbox.rules import Finding, schema_findings

Clock = Callable[[], float]

# What a rule does to a request it fires on (the document's FaultRule says the same):
# status: answer with an error; drop: close the connection, nothing applied;
# slow_body: headers now, body after delay_ms; lost_answer: apply, then close
# the connection without answering; slow_answer: apply, answer after delay_ms.
EFFECTS = ("status", "drop", "slow_body", "lost_answer", "slow_answer")
DELAYED = ("slow_body", "slow_answer")


class InvalidFaults(ValueError):
    """The fault settings break a rule; carries every violation."""

    def __init__(self, violations: list[Finding]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.message}" if v.field else v.message for v in violations))
        self.violations = violations


@dataclass(frozen=True)
class FaultRule:
    """One rule: which requests (method, path glob), what happens, how often.

    ``count`` limits the rule to its first N firings; ``share`` is the chance
    that a matching request fires it; neither means every matching request.
    """

    effect: str
    method: str | None = None
    path: str | None = None
    status: int | None = None
    retry_after: float | None = None
    share: float | None = None
    count: int | None = None
    delay_ms: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.path is None:
            return path.startswith("/api/v2/") and not path.startswith("/api/v2/docs/")
        return fnmatch.fnmatchcase(path, self.path)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "FaultRule":
        match = data.get("match") or {}
        return cls(
            effect=data["effect"],
            method=match["method"].upper() if "method" in match else None,
            path=match.get("path"),
            status=data.get("status"),
            retry_after=data.get("retry_after"),
            share=data.get("share"),
            count=data.get("count"),
            delay_ms=float(data.get("delay_ms", 0.0)),
        )

    def to_api(self) -> dict[str, Any]:
        result: dict[str, Any] = {"effect": self.effect}
        match = {key: value for key, value in (("method", self.method), ("path", self.path)) if value is not None}
        if match:
            result["match"] = match
        for key in ("status", "retry_after", "share", "count"):
            value = getattr(self, key)
            if value is not None:
                result[key] = value
        if self.effect in DELAYED:
            result["delay_ms"] = self.delay_ms
        return result


@dataclass(frozen=True)
class FaultSettings:
    """Everything ``POST /__sandbox/faults`` can set, with the start-up values as defaults."""

    seed: int = 0
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    rate_limit: int = 300
    rate_window_seconds: float = 60.0
    token_lifetime_seconds: int = 86_400
    rules: tuple[FaultRule, ...] = ()

    def updated(self, data: Any) -> "FaultSettings":
        """These settings with every key present in ``data`` replaced.

        Raises :class:`InvalidFaults` listing every problem; nothing is half-applied.
        """
        violations = schema_findings(openapi.validator("FaultSettingsInput"), data)
        if violations:
            raise InvalidFaults(violations)
        changes: dict[str, Any] = {}
        for key in ("seed", "latency_ms", "latency_jitter_ms", "token_lifetime_seconds"):
            if key in data:
                changes[key] = data[key]
        limit = data.get("rate_limit") or {}
        if "requests" in limit:
            changes["rate_limit"] = limit["requests"]
        if "window_seconds" in limit:
            changes["rate_window_seconds"] = float(limit["window_seconds"])
        if "rules" in data:
            changes["rules"] = tuple(FaultRule.from_api(rule) for rule in data["rules"])
        return replace(self, **changes)

    def to_api(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "latency_ms": self.latency_ms,
            "latency_jitter_ms": self.latency_jitter_ms,
            "rate_limit": {"requests": self.rate_limit, "window_seconds": self.rate_window_seconds},
            "token_lifetime_seconds": self.token_lifetime_seconds,
            "rules": [rule.to_api() for rule in self.rules],
        }


@dataclass(frozen=True)
class FaultDecision:
    """The rule that fired for one request (``index`` into the rules)."""

    index: int
    rule: FaultRule


@dataclass
class _RuleCounters:
    matched: int = 0
    fired: int = 0


class FaultInjector:
    """Decides which fault hits each request; deterministic given the seed."""

    def __init__(self, settings: FaultSettings) -> None:
        self._lock = threading.Lock()
        self._install(settings)

    def _install(self, settings: FaultSettings) -> None:
        self._settings = settings
        # Two generators so that latency draws do not shift the rule draws.
        self._rule_random = random.Random(f"rules-{settings.seed}")
        self._latency_random = random.Random(f"latency-{settings.seed}")
        self._counters = [_RuleCounters() for _ in settings.rules]

    @property
    def settings(self) -> FaultSettings:
        return self._settings

    def replace(self, settings: FaultSettings) -> None:
        with self._lock:
            self._install(settings)

    def decide(self, method: str, path: str) -> FaultDecision | None:
        with self._lock:
            for index, rule in enumerate(self._settings.rules):
                if not rule.matches(method, path):
                    continue
                counters = self._counters[index]
                if rule.count is not None and counters.fired >= rule.count:
                    continue
                counters.matched += 1
                if rule.share is not None and self._rule_random.random() >= rule.share:
                    continue
                counters.fired += 1
                return FaultDecision(index, rule)
        return None

    def latency_seconds(self) -> float:
        settings = self._settings
        if settings.latency_ms <= 0 and settings.latency_jitter_ms <= 0:
            return 0.0
        with self._lock:
            jitter = self._latency_random.uniform(-settings.latency_jitter_ms, settings.latency_jitter_ms)
        return max(0.0, settings.latency_ms + jitter) / 1000.0

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            data = self._settings.to_api()
            for rule, counters in zip(data["rules"], self._counters, strict=True):
                rule["matched"] = counters.matched
                rule["fired"] = counters.fired
        return data


@dataclass(frozen=True)
class RateState:
    """One request's place in its client's window, as the headers tell it."""

    allowed: bool
    budget: int
    count: int
    reset_seconds: float
    window_seconds: float

    def headers(self) -> tuple[tuple[str, str], ...]:
        return (
            ("inin-ratelimit-allowed", str(self.budget)),
            ("inin-ratelimit-count", str(self.count)),
            ("inin-ratelimit-reset", str(self.reset_header())),
        )

    def reset_header(self) -> int:
        """Whole seconds until the window resets, rounded up as the real gateway does.

        ``started + window - now`` in floating point can come out a hair over
        the window (60.00000000000009 at a window's first request), which
        rounded up would announce a window one second longer than it is; so
        the remainder is rounded to the microsecond first, and never shown
        longer than the window.
        """
        longest = max(1, math.ceil(self.window_seconds))
        return min(longest, max(1, math.ceil(round(self.reset_seconds, 6))))


@dataclass
class _Window:
    started: float
    count: int = 0


@dataclass
class RateLimiter:
    """A fixed-window request budget per client id.

    A client's window opens with its first request and lasts
    ``window_seconds``; every request in it counts, refused ones included, so
    ``count`` above ``budget`` shows how far over a client is.  Answers made
    by a fault rule do not count (:meth:`peek`).
    """

    budget: int
    window_seconds: float
    clock: Clock
    _windows: dict[str, _Window] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reconfigure(self, budget: int, window_seconds: float) -> None:
        """New budget and window; every client starts a fresh window."""
        with self._lock:
            self.budget = budget
            self.window_seconds = window_seconds
            self._windows.clear()

    def peek(self, client: str) -> RateState:
        """The client's window as it stands, without counting a request.

        For answers that do not count (injected faults).  With no window
        open, ``count`` is 0 and ``reset`` the length a window would have.
        """
        with self._lock:
            now = self.clock()
            window = self._windows.get(client)
            if window is None or now >= window.started + self.window_seconds:
                return RateState(True, self.budget, 0, self.window_seconds, self.window_seconds)
            remaining = window.started + self.window_seconds - now
            return RateState(window.count < self.budget, self.budget, window.count, remaining, self.window_seconds)

    def hit(self, client: str) -> RateState:
        with self._lock:
            now = self.clock()
            window = self._windows.get(client)
            if window is None or now >= window.started + self.window_seconds:
                if len(self._windows) > 10_000:
                    self._forget_expired(now)
                window = self._windows[client] = _Window(started=now)
            window.count += 1
            remaining = window.started + self.window_seconds - now
            return RateState(window.count <= self.budget, self.budget, window.count, remaining, self.window_seconds)

    def _forget_expired(self, now: float) -> None:
        for key in [k for k, w in self._windows.items() if now >= w.started + self.window_seconds]:
            del self._windows[key]

"""What ``llmplan report`` shows, as plain immutable data.

Gathered from each environment's records (and the live gateway) by
:mod:`planner.app.report`; rendered into a static site by
:mod:`planner.render.report`. Nothing here reads a file or knows how it will
be shown; the few derived values (an environment's problems, the day
buckets of a timeline) are pure functions of the data, so every rendering
agrees on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterable, Mapping

DEFAULT_DAYS = 30  # the history a report shows by default: the last 30 days, counting today

# --- strength of a safety setting -------------------------------------------

STRONG, MEDIUM, WEAK, ABSENT = "strong", "medium", "weak", "absent"
LEVELS = (STRONG, MEDIUM, WEAK, ABSENT)  # strongest first


def level_of(value: str | None, order: tuple[str, ...]) -> str:
    """Where ``value`` sits on a scale given strongest first: the first step is strong, the
    last weak, any between medium; a value not on the scale (or none) is absent."""
    if value is None or value not in order:
        return ABSENT
    index = order.index(value)
    if index == 0:
        return STRONG
    return WEAK if index == len(order) - 1 else MEDIUM


@dataclass(frozen=True)
class FieldDiff:
    """One field that changed: its path as plans name it, and both values (None = absent)."""

    path: str
    before: Any
    after: Any

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FieldDiff":
        return cls(str(data.get("path", "")), data.get("before"), data.get("after"))


@dataclass(frozen=True)
class SafetyNote:
    """What one field change meant for safety, as the classification recorded it."""

    path: str
    effect: str
    reason: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SafetyNote":
        return cls(str(data.get("path", "")), str(data.get("effect", "")), str(data.get("reason", "")))


# --- safety posture ----------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One cell of the posture matrix: a filter's action and threshold, or the compliance mode.

    ``action`` None: the model has no such filter. ``level`` places it on the
    environment's scale (strong … weak, or absent).
    """

    column: str  # a filter type, or COMPLIANCE
    action: str | None
    threshold: Any = None
    level: str = ABSENT

    @property
    def text(self) -> str:
        if self.action is None:
            return "none"
        return self.action if self.threshold is None else f"{self.action} {self.threshold}"

    @property
    def key(self) -> tuple[str | None, Any]:
        """What two environments must share for the setting to be the same."""
        return (self.action, self.threshold)


COMPLIANCE = "compliance_mode"

# where a model's posture was read
LIVE, STATE, DESIRED = "live", "state", "yaml"


@dataclass(frozen=True)
class ModelPosture:
    """The safety settings of one model in one environment, one per column."""

    address: str
    model_id: str
    settings: tuple[Setting, ...]
    source: str  # LIVE, STATE (last applied), DESIRED (in YAML, never applied)
    configured: bool = True  # False: the gateway holds no configuration for it
    drift_kind: str | None = None  # set when the drift check found this model drifted
    weakened_outside: bool = False

    def setting(self, column: str) -> Setting:
        for setting in self.settings:
            if setting.column == column:
                return setting
        return Setting(column, None)


# --- drift -------------------------------------------------------------------

DRIFT_TEXT = {
    "changed_outside": "live changed outside llmplan",
    "not_applied": "YAML changed but not applied",
    "both": "live changed outside llmplan and YAML changed but not applied",
    "never_applied": "live differs from YAML; llmplan never applied this model",
    "removed": "configuration removed on the gateway outside llmplan",
}


@dataclass(frozen=True)
class DriftItem:
    address: str
    model_id: str
    kind: str
    changes: tuple[FieldDiff, ...]  # live → YAML, as drift reads them
    weakenings: tuple[SafetyNote, ...]  # safety weakened outside llmplan

    @property
    def text(self) -> str:
        return DRIFT_TEXT.get(self.kind, self.kind)


@dataclass(frozen=True)
class DriftSummary:
    """A drift check: read live now, or the last one ``llmplan drift`` remembered."""

    checked_at: str
    live: bool  # True: read at report time; False: the last remembered result
    models: int
    unmanaged: int
    items: tuple[DriftItem, ...]

    @property
    def drifted(self) -> int:
        return len(self.items)

    @property
    def weakened(self) -> tuple[DriftItem, ...]:
        return tuple(item for item in self.items if item.weakenings)

    @classmethod
    def from_result(cls, result: Mapping[str, Any], *, live: bool) -> "DriftSummary":
        """From the plain JSON a drift check is remembered as (``Records.last_drift``)."""
        items = tuple(
            DriftItem(
                address=str(item.get("address", "")),
                model_id=str(item.get("model_id", "")),
                kind=str(item.get("kind", "")),
                changes=tuple(FieldDiff.from_dict(change) for change in item.get("changes") or ()),
                weakenings=tuple(SafetyNote.from_dict(note) for note in item.get("weakened_outside") or ()),
            )
            for item in result.get("drifted") or ()
            if isinstance(item, Mapping)
        )
        return cls(str(result.get("checked_at", "")), live, int(result.get("models") or 0), int(result.get("unmanaged") or 0), items)


# --- records -----------------------------------------------------------------


@dataclass(frozen=True)
class LockStatus:
    operation: str
    who: str
    since: str
    ci_run: str | None = None


@dataclass(frozen=True)
class AuditStatus:
    """The audit trail checked from its last checkpoint, and against the state it vouches for."""

    verified: bool
    entries: int
    problem: str | None = None


@dataclass(frozen=True)
class LastApply:
    """The last apply: when, and, when the window holds it, by whom, from which plan, with what outcome."""

    at: str
    by: str | None = None
    commit: str | None = None
    plan_checksum: str | None = None
    succeeded: int = 0
    failed: int = 0
    detailed: bool = False  # False: only its time is known (from state; the apply is older than the window)


# --- history -----------------------------------------------------------------

APPLIED, FAILED, WEAKENING_ALLOWED, DRIFT_FOUND, STATE_EDIT, REPAIR = "applied", "failed", "weakening allowed", "drift found", "state edit", "audit repair"
EVENT_KINDS = (APPLIED, FAILED, WEAKENING_ALLOWED, DRIFT_FOUND)  # what the timeline counts


@dataclass(frozen=True)
class HistoryEvent:
    """One recorded outcome in the window: a change applied or refused, a state edit, a drift check."""

    at: str
    kind: str
    action: str
    status: str
    address: str | None = None
    model_id: str | None = None
    audit_id: str | None = None
    classification: str | None = None
    by: str | None = None  # who allowed a weakening
    via: str | None = None
    changes: tuple[FieldDiff, ...] | None = None  # None: the entry predates field-level details
    notes: tuple[SafetyNote, ...] = ()
    error: str | None = None
    version: int | None = None
    previous_address: str | None = None
    count: int = 1  # a drift check: the models found drifted


@dataclass(frozen=True)
class DayCount:
    day: str  # YYYY-MM-DD
    applied: int = 0
    failed: int = 0
    weakenings: int = 0
    drift: int = 0

    @property
    def total(self) -> int:
        return self.applied + self.failed + self.weakenings + self.drift


def day_counts(events: Iterable[HistoryEvent], days: Iterable[str]) -> tuple[DayCount, ...]:
    """The timeline: per day, applies, failures, weakenings allowed and drift found.

    A weakening allowed is an apply too; it is counted once, as a weakening.
    """
    buckets = {day: [0, 0, 0, 0] for day in days}
    slot = {APPLIED: 0, FAILED: 1, WEAKENING_ALLOWED: 2, DRIFT_FOUND: 3}
    for event in events:
        bucket = buckets.get(event.at[:10])
        if bucket is not None and event.kind in slot:
            bucket[slot[event.kind]] += event.count
    return tuple(DayCount(day, *counts) for day, counts in buckets.items())


# --- one environment, the whole report ----------------------------------------

ERROR, WARNING, NOTICE = "error", "warning", "notice"


@dataclass(frozen=True)
class Problem:
    severity: str  # ERROR, WARNING, NOTICE
    text: str


@dataclass(frozen=True)
class EnvironmentStatus:
    name: str
    records: str  # where its records are (no secret: a database is named without its password)
    models_managed: int | None  # model files in the YAML; None when the YAML could not be read
    last_apply: LastApply | None
    drift: DriftSummary | None
    lock: LockStatus | None
    audit: AuditStatus | None
    posture: tuple[ModelPosture, ...]
    posture_source: str
    events: tuple[HistoryEvent, ...]  # in the window, oldest first
    days: tuple[DayCount, ...]
    errors: tuple[str, ...] = ()  # what could not be read, in words
    notes: tuple[str, ...] = ()  # worth saying, not wrong

    @property
    def problems(self) -> tuple[Problem, ...]:
        """What needs someone's attention, worst first."""
        found: list[Problem] = [Problem(ERROR, error) for error in self.errors]
        if self.audit is not None and not self.audit.verified:
            found.append(Problem(ERROR, f"audit trail does not verify: {self.audit.problem}"))
        if self.drift is not None and self.drift.weakened:
            count = len(self.drift.weakened)
            found.append(Problem(ERROR, f"safety weakened outside llmplan: {count} model{'s' if count != 1 else ''}"))
        if self.drift is not None and self.drift.drifted:
            found.append(Problem(WARNING, f"drift: {self.drift.drifted} of {self.drift.models} models differ from the YAML"))
        if self.last_apply is not None and self.last_apply.failed:
            found.append(Problem(WARNING, f"last apply: {self.last_apply.failed} change{'s' if self.last_apply.failed != 1 else ''} failed"))
        if self.lock is not None:
            found.append(Problem(NOTICE, f"locked by {self.lock.operation} ({self.lock.who}) since {self.lock.since}"))
        return tuple(found)

    @property
    def severity(self) -> int:
        """For ordering, problems first: 3 error, 2 warning, 1 notice, 0 none."""
        rank = {ERROR: 3, WARNING: 2, NOTICE: 1}
        return max((rank[problem.severity] for problem in self.problems), default=0)

    def counts(self) -> DayCount:
        """The window's totals."""
        return DayCount(
            "",
            sum(day.applied for day in self.days),
            sum(day.failed for day in self.days),
            sum(day.weakenings for day in self.days),
            sum(day.drift for day in self.days),
        )


@dataclass(frozen=True)
class ModelEntry:
    """One model address across environments: its posture in each, and its history in the window."""

    address: str
    postures: tuple[tuple[str, ModelPosture], ...]  # (environment, posture)
    events: tuple[tuple[str, HistoryEvent], ...]  # (environment, event), oldest first

    @property
    def environments(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([name for name, _ in self.postures] + [name for name, _ in self.events]))

    def differs(self, column: str) -> bool:
        """Whether the environments holding this model disagree on this setting."""
        return column in self.differing

    @cached_property
    def differing(self) -> frozenset[str]:
        """The settings the environments holding this model disagree on (computed once)."""
        columns = {setting.column for _, posture in self.postures for setting in posture.settings}
        return frozenset(column for column in columns if len({posture.setting(column).key for _, posture in self.postures}) > 1)


@dataclass(frozen=True)
class Report:
    generated_at: str
    tool_version: str
    window_days: int
    since: str  # the window's first instant
    offline: bool
    environments: tuple[EnvironmentStatus, ...]  # problems first
    columns: tuple[str, ...]  # the posture matrix's columns: filter types, then COMPLIANCE
    models: tuple[ModelEntry, ...] = field(default=())  # by address

    @property
    def failed(self) -> bool:
        """Whether any environment could not be read in full (the exit code says so)."""
        return any(environment.errors for environment in self.environments)

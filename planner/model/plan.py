"""The plan as data: what apply will do to each model address, and why.

A plan knows nothing about how it will be shown; renderers read it, apply
executes its changes, :mod:`planner.core.planning` builds it and
:mod:`planner.core.plan_file` saves and reads it (Terraform's JSON output
format plus an ``llmplan`` block, sealed by a checksum).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from planner.model.errors import SafetyThresholdExceeded, StalePlan
from planner.model.safety import UNCHANGED, Classification
from planner.model.state import State

NO_OP = "no-op"
CREATE = "create"
UPDATE = "update"
FORGET = "forget"
WRITE_ACTIONS = (CREATE, UPDATE)  # the actions that send a PUT


@dataclass(frozen=True, order=True)
class FieldChange:
    """One field that differs: a readable path and both values (None = absent)."""

    path: str
    before: Any
    after: Any

    @property
    def kind(self) -> str:
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        return "changed"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "before": self.before, "after": self.after}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FieldChange":
        return cls(data["path"], data.get("before"), data.get("after"))


@dataclass(frozen=True)
class ConfiguredModel:
    """One model file as the configuration holds it: the body it asks for."""

    address: str
    file: str | None
    values: Mapping[str, Any]


@dataclass(frozen=True)
class RecordedModel:
    """One model as llmplan's state last recorded it."""

    address: str
    values: Mapping[str, Any]
    version: int | None
    applied_at: str | None


@dataclass(frozen=True)
class ResourceChange:
    """What happens to one model address.

    ``before`` is the live configuration (``None`` if never configured),
    ``after`` the body apply will PUT (``None`` for forget), ``live_version``
    the version the change was computed against: apply sends it, and the
    gateway refuses the PUT if the model changed since.  ``classification``
    says what the change means for the model's safety.
    ``previous_address`` is set when the model moved here from that address
    (a renamed file; Terraform's ``previous_address``); ``state_version`` is
    the version llmplan last recorded for the model, so a create of a model
    state knows is a configuration removed on the gateway.
    """

    address: str
    model_id: str
    action: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    changes: tuple[FieldChange, ...] = ()
    live_version: int | None = None
    file: str | None = None
    classification: Classification = UNCHANGED
    previous_address: str | None = None
    state_version: int | None = None

    @property
    def moved(self) -> bool:
        return self.previous_address is not None

    @property
    def removed_on_gateway(self) -> bool:
        """A first configuration of a model llmplan had configured: someone removed it on the gateway."""
        return self.action == CREATE and self.state_version is not None


@dataclass(frozen=True)
class DriftedResource:
    """A model whose live configuration differs from what llmplan last applied."""

    address: str
    model_id: str
    before: Mapping[str, Any] | None  # as last applied (state)
    after: Mapping[str, Any] | None  # as live now
    changes: tuple[FieldChange, ...]
    state_version: int | None
    live_version: int | None
    applied_at: str | None
    classification: Classification = UNCHANGED  # of the change made outside llmplan


@dataclass(frozen=True)
class SafetyCheck:
    """The share of models a plan changes, against the environment's limit."""

    max_change_percent: float
    changed: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.changed / self.total if self.total else 0.0

    @property
    def exceeded(self) -> bool:
        return self.changed > 0 and self.percent > self.max_change_percent

    def describe(self, *, forced: bool = False) -> str:
        """The numbers and the remedy; with ``forced`` (apply --force) that the limit is lifted instead."""
        remedy = "applying anyway, as --force asks" if forced else "review the plan and re-run with --force"
        return (
            f"{self.changed} of {self.total} models would change ({self.percent:.0f} %), "
            f"over the {self.max_change_percent:g} % limit of this environment; {remedy}"
        )


@dataclass(frozen=True)
class Plan:
    environment: str
    created_at: str
    tool_version: str
    state_lineage: str | None
    state_serial: int
    changes: tuple[ResourceChange, ...]
    drift: tuple[DriftedResource, ...]
    safety: SafetyCheck
    targets: tuple[str, ...] = ()
    configuration: tuple[ConfiguredModel, ...] = ()  # every model file of the environment, targeted or not
    prior_state: tuple[RecordedModel, ...] = ()  # the state the plan was made against
    checksum: str | None = field(default=None, compare=False)
    # where the entry vouching for that state is in the audit trail: what happened since starts there
    state_audit_position: int | None = None
    source_commit: str | None = None  # the Git commit checked out where the plan was made (None outside Git)

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)

    @property
    def moves(self) -> tuple[ResourceChange, ...]:
        return tuple(change for change in self.changes if change.moved)

    @property
    def actionable(self) -> tuple[ResourceChange, ...]:
        """The changes apply performs (everything but a no-op that did not move), in address order."""
        return tuple(change for change in self.changes if change.action != NO_OP or change.moved)

    @property
    def has_changes(self) -> bool:
        return bool(self.actionable)

    @property
    def weakening(self) -> tuple[ResourceChange, ...]:
        """The changes that weaken a model's safety, in address order."""
        return weakening_changes(self.changes)

    def raise_if_unsafe(self, *, force: bool) -> None:
        """The change limit (octoDNS's safety threshold): more than that share of models needs --force."""
        if self.safety.exceeded and not force:
            raise SafetyThresholdExceeded(self.safety.describe())

    def raise_if_stale(self, state: State | None, live: Mapping[str, Mapping[str, Any] | None]) -> None:
        """Refuse a saved plan if the state or any live configuration moved since it was made."""
        lineage = state.lineage if state is not None else None
        serial = state.serial if state is not None else 0
        if self.state_lineage is not None and lineage != self.state_lineage:
            raise StalePlan(f"the plan was made against state lineage {self.state_lineage}, but the state of environment {self.environment} has lineage {lineage}")
        if serial != self.state_serial:
            raise StalePlan(f"the state of environment {self.environment} moved since the plan was made (serial {self.state_serial} → {serial}): another apply ran")
        moved = []
        for change in self.changes:
            if change.action == FORGET:
                continue
            configuration = live.get(change.model_id)
            version = configuration.get("version") if configuration is not None else None
            if version != change.live_version:
                moved.append(f"{change.address} ({version_words(change.live_version, 'planned against')}, {version_words(version, 'live is')})")
        if moved:
            raise StalePlan("live configuration changed since the plan was made: " + ", ".join(moved))


def version_words(version: int | None, prefix: str) -> str:
    """``planned against version 3`` / ``planned against no configuration``: never a bare None."""
    return f"{prefix} version {version}" if version is not None else f"{prefix} no configuration"


def weakening_changes(changes: Iterable[ResourceChange]) -> tuple[ResourceChange, ...]:
    """The changes that weaken a model's safety, in the order given."""
    return tuple(change for change in changes if change.classification.weakens)

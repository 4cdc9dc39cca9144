"""Drift: where the live gateway no longer matches Git, and why.

A pure function of the desired environment, the live configurations and the
last applied state.  A model has drifted when its live configuration differs
from the YAML; comparing both with state tells the reviewer which side moved:

* ``changed_outside`` — live differs from what llmplan last applied (a console edit),
* ``not_applied`` — the YAML changed since the last apply and was not applied yet,
* ``both`` — both moved,
* ``never_applied`` — llmplan has no record of this model (not applied, or adopted by hand),
* ``removed`` — the configuration llmplan applied was removed on the gateway.

Differences read in one direction, as in a plan: from live to the YAML
(what apply would change), so the same difference prints the same way in
``plan`` and ``drift``.

Live configured models that no YAML file names are listed as ``unmanaged``
and counted in the summary; they are drift only when the caller says so
(``drift --fail-on-unmanaged``); ``llmplan import`` adopts them.

What moved outside llmplan is classified for safety (planner.model.safety): the
change from the last applied configuration to live, or, for a model llmplan
never applied, from the YAML to live.  A weakening there is "safety weakened
outside llmplan", the drift that pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from planner.core.diff import configuration_hash, diff_configurations, to_payload
from planner.core.planning import find_moves
from planner.core.safety import classify
from planner.core.tfjson import recorded_models
from planner.model.plan import ConfiguredModel, FieldChange, RecordedModel
from planner.model.safety import UNCHANGED, Classification
from planner.model.settings import Environment
from planner.model.state import State

CHANGED_OUTSIDE = "changed_outside"
NOT_APPLIED = "not_applied"
BOTH = "both"
NEVER_APPLIED = "never_applied"
REMOVED = "removed"

KIND_TEXT = {
    CHANGED_OUTSIDE: "live changed outside llmplan",
    NOT_APPLIED: "YAML changed but not applied",
    BOTH: "live changed outside llmplan and YAML changed but not applied",
    NEVER_APPLIED: "live differs from YAML; llmplan never applied this model",
    REMOVED: "configuration removed on the gateway outside llmplan",
}


@dataclass(frozen=True)
class DriftedModel:
    address: str
    model_id: str
    kind: str
    desired: Mapping[str, Any]
    live: Mapping[str, Any] | None
    last_applied: Mapping[str, Any] | None
    changes: tuple[FieldChange, ...]  # from live to desired (YAML), as a plan reads
    live_version: int | None
    state_version: int | None
    applied_at: str | None
    outside: Classification = UNCHANGED  # of what moved outside llmplan

    @property
    def weakened_outside(self) -> bool:
        return self.outside.weakens


@dataclass(frozen=True)
class UnmanagedModel:
    model_id: str
    name: str
    version: int | None


@dataclass(frozen=True)
class DriftReport:
    environment: str
    created_at: str
    tool_version: str
    total: int
    drifted: tuple[DriftedModel, ...]
    unmanaged: tuple[UnmanagedModel, ...]
    configuration: tuple[ConfiguredModel, ...] = ()  # every model file, drifted or not
    prior_state: tuple[RecordedModel, ...] = ()

    @property
    def has_drift(self) -> bool:
        return bool(self.drifted)

    @property
    def weakened_outside(self) -> tuple[DriftedModel, ...]:
        """The drifted models whose safety was weakened outside llmplan."""
        return tuple(item for item in self.drifted if item.weakened_outside)

    def remembered(self) -> dict[str, Any]:
        """What the records keep of this check for ``llmplan report --offline``: plain JSON,
        field changes read live → YAML as in the report."""
        return {
            "format_version": 1,
            "environment": self.environment,
            "checked_at": self.created_at,
            "tool_version": self.tool_version,
            "models": self.total,
            "unmanaged": len(self.unmanaged),
            "drifted": [
                {
                    "address": item.address,
                    "model_id": item.model_id,
                    "kind": item.kind,
                    "changes": [change.to_dict() for change in item.changes],
                    "weakened_outside": [finding.to_dict() for finding in item.outside.weakenings],
                }
                for item in self.drifted
            ],
        }


def detect_drift(
    environment: Environment,
    live: Mapping[str, Mapping[str, Any] | None],
    names: Mapping[str, str],
    state: State | None,
    *,
    created_at: str,
    tool_version: str,
) -> DriftReport:
    """Compare every managed model; ``live`` holds every model of the gateway
    (None = never configured), keyed by lower-case id."""
    recorded = dict(state.resources) if state is not None else {}
    moves = find_moves(environment.models, recorded)  # a renamed file's record is still its model's
    drifted: list[DriftedModel] = []
    configured: list[ConfiguredModel] = []
    for model in environment.models:
        model_id = model.model_id.lower()
        desired = to_payload(model.config)
        configured.append(ConfiguredModel(model.address, model.file, desired))
        live_config = live.get(model_id)
        now = to_payload(live_config) if live_config is not None else None
        if now is not None and configuration_hash(now) == configuration_hash(desired):
            continue
        previous = recorded.get(moves.get(model.address, model.address))
        if previous is not None and previous.model_id.lower() != model_id:
            previous = None
        applied = to_payload(previous.configuration) if previous is not None else None
        if applied is None:
            kind = NEVER_APPLIED
        elif now is None:
            kind = REMOVED
        else:
            live_moved = now is None or configuration_hash(now) != configuration_hash(applied)
            yaml_moved = configuration_hash(desired) != configuration_hash(applied)
            kind = BOTH if live_moved and yaml_moved else CHANGED_OUTSIDE if live_moved else NOT_APPLIED
        changes = diff_configurations(now, desired)
        outside = UNCHANGED
        if now is not None and kind != NOT_APPLIED:
            outside = classify(diff_configurations(desired if applied is None else applied, now), environment.safety)
        drifted.append(
            DriftedModel(
                address=model.address,
                model_id=model_id,
                kind=kind,
                desired=desired,
                live=now,
                last_applied=applied,
                changes=changes,
                live_version=live_config.get("version") if live_config is not None else None,
                state_version=previous.version if previous is not None else None,
                applied_at=previous.applied_at if previous is not None else None,
                outside=outside,
            )
        )
    managed = {model.model_id.lower() for model in environment.models}
    unmanaged = tuple(
        UnmanagedModel(model_id, names.get(model_id, model_id), config.get("version"))
        for model_id, config in sorted(live.items())
        if config is not None and model_id not in managed
    )
    configuration = tuple(sorted(configured, key=lambda item: item.address))
    return DriftReport(environment.name, created_at, tool_version, len(environment.models), tuple(drifted), unmanaged, configuration, recorded_models(recorded))

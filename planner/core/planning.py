"""Building a plan: the pure comparison of desired (YAML), live (gateway) and last applied (state).

Kept apart from :mod:`planner.model.plan`, which holds the plan as data and its
saved form. Three things are decided here besides create / update / no-op:

* a **move**: a model file renamed (the same ``model_id`` at a new address,
  its old address still in state) keeps its record under the new address;
  nothing is forgotten, and no request is sent unless its configuration
  changed too (Terraform's ``moved``, found without a ``moved`` block);
* a **configuration removed on the gateway**: live has none, state has one;
  the change is a create that knows the version llmplan last applied;
* **changes made outside llmplan**: live differs from what state recorded.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from planner.core.diff import configuration_hash, diff_configurations, diff_payloads, same_payload, to_payload
from planner.core.safety import classify, classify_action
from planner.core.tfjson import recorded_models
from planner.model.plan import CREATE, FORGET, NO_OP, UPDATE, WRITE_ACTIONS, ConfiguredModel, DriftedResource, Plan, ResourceChange, SafetyCheck
from planner.model.safety import UNCHANGED
from planner.model.settings import Environment, ModelFile
from planner.model.state import ResourceState, State


def build_plan(
    environment: Environment,
    live: Mapping[str, Mapping[str, Any] | None],
    state: State | None,
    *,
    created_at: str,
    tool_version: str,
    targets: Sequence[str] = (),
) -> Plan:
    """Compare desired (YAML), live (gateway) and last applied (state).

    ``live`` maps lower-case model ids to the live configuration as the
    gateway returned it (with ``version``), or None if never configured.
    ``targets`` limits the plan to those addresses (a move is targeted by
    either of its addresses).
    """
    wanted = set(targets)
    rules = environment.safety
    recorded = dict(state.resources) if state is not None else {}
    moves = find_moves(environment.models, recorded)
    changes: list[ResourceChange] = []
    drift: list[DriftedResource] = []
    configured: list[ConfiguredModel] = []

    for model in environment.models:
        previous_address = moves.get(model.address)
        after = to_payload(model.config)
        configured.append(ConfiguredModel(model.address, model.file, after))
        if wanted and model.address not in wanted and previous_address not in wanted:
            continue
        model_id = model.model_id.lower()
        live_config = live.get(model_id)
        live_version = live_config.get("version") if live_config is not None else None
        if live_config is None:
            action = CREATE
            field_changes = diff_payloads(None, after)
            before = None
        else:
            before = to_payload(live_config)
            same = same_payload(before, after)
            action = NO_OP if same else UPDATE
            field_changes = () if same else diff_payloads(before, after)
        previous = recorded.get(previous_address or model.address)
        if previous is not None and previous.model_id.lower() != model_id:
            previous = None
        changes.append(
            ResourceChange(
                model.address,
                model_id,
                action,
                before,
                after,
                field_changes,
                live_version,
                model.file,
                classify_action(action, field_changes, rules),
                previous_address=previous_address,
                state_version=previous.version if previous is not None else None,
            )
        )
        if previous is not None:
            drifted = _drift(model.address, model_id, previous, live_config, rules)
            if drifted is not None:
                drift.append(drifted)

    desired_addresses = {model.address for model in environment.models}
    moved_away = set(moves.values())
    for address, previous in sorted(recorded.items()):
        if address in desired_addresses or address in moved_away or (wanted and address not in wanted):
            continue
        changes.append(
            ResourceChange(
                address, previous.model_id.lower(), FORGET, dict(previous.configuration), None, (), previous.version, None,
                classify_action(FORGET, (), rules), state_version=previous.version,
            )
        )

    changes.sort(key=lambda change: change.address)
    written = sum(1 for change in changes if change.action in WRITE_ACTIONS)
    return Plan(
        environment=environment.name,
        created_at=created_at,
        tool_version=tool_version,
        state_lineage=state.lineage if state is not None else None,
        state_serial=state.serial if state is not None else 0,
        state_audit_position=state.audit_head.position if state is not None and state.audit_head is not None else None,
        changes=tuple(changes),
        drift=tuple(sorted(drift, key=lambda item: item.address)),
        safety=SafetyCheck(environment.apply.max_change_percent, written, len(environment.models)),
        targets=tuple(sorted(wanted)),
        configuration=tuple(sorted(configured, key=lambda model: model.address)),
        prior_state=recorded_models(recorded),
    )


def find_moves(models: Iterable[ModelFile], recorded: Mapping[str, ResourceState]) -> dict[str, str]:
    """New address → old address of every renamed model file.

    A move is a desired address that state does not know, whose model_id
    state records under an address no file has any more. (One file per
    model_id is a validation rule, so each old address moves at most once.)
    """
    models = list(models)
    desired = {model.address for model in models}
    left_behind: dict[str, str] = {}
    for address, resource in sorted(recorded.items()):
        if address not in desired:
            left_behind.setdefault(resource.model_id.lower(), address)
    return {
        model.address: left_behind[model.model_id.lower()]
        for model in models
        if model.address not in recorded and model.model_id.lower() in left_behind
    }


def _drift(address: str, model_id: str, previous: Any, live_config: Mapping[str, Any] | None, rules: Any) -> DriftedResource | None:
    recorded = to_payload(previous.configuration)
    now = to_payload(live_config) if live_config is not None else None
    if now is not None and configuration_hash(recorded) == configuration_hash(now):
        return None
    changes = diff_configurations(recorded, now)
    return DriftedResource(
        address=address,
        model_id=model_id,
        before=recorded,
        after=now,
        changes=changes,
        state_version=previous.version,
        live_version=live_config.get("version") if live_config is not None else None,
        applied_at=previous.applied_at,
        classification=classify(changes, rules) if now is not None else UNCHANGED,
    )


def unknown_targets(environment: Environment, state: State | None, targets: Iterable[str]) -> list[str]:
    known = {model.address for model in environment.models}
    if state is not None:
        known.update(state.resources)
    return sorted(set(targets) - known)

"""Recording live configurations without changing the gateway: refresh, import, and apply's refresh of unchanged models."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from planner.adapters.records.interfaces import Change
from planner.app.executor import Recorder, resource_state
from planner.core.diff import configuration_hash
from planner.model.audit import REFRESH_ACTION, recorded_without_request
from planner.model.configuration import Capabilities
from planner.model.plan import NO_OP, Plan, ResourceChange
from planner.model.state import ResourceState, State


def refresh_state(
    models: Iterable[tuple[str, str]],
    state: State | None,
    recorder: Recorder,
    live: Mapping[str, Mapping[str, Any] | None],
    capabilities: Mapping[str, Capabilities],
) -> list[ResourceState]:
    """Record in state (with a ``state_refresh`` audit entry) the live
    configuration of each ``(address, model_id)`` whose record is missing or
    out of date; the gateway is not touched.  Returns what was recorded."""
    recorded = []
    for address, model_id in models:
        configuration = live.get(model_id.lower())
        if configuration is None:
            continue
        previous = state.resources.get(address) if state is not None else None
        if (
            previous is not None
            and previous.model_id.lower() == model_id.lower()
            and previous.version == configuration.get("version")
            and configuration_hash(previous.configuration) == configuration_hash(configuration)
        ):
            continue
        recorded.append(record_live(recorder, address=address, live=configuration, capabilities=capabilities.get(model_id.lower()), action=REFRESH_ACTION))
    return recorded


def refresh_unchanged(plan: Plan, state: State | None, recorder: Recorder, live: Mapping[str, Mapping[str, Any] | None], capabilities: Mapping[str, Capabilities]) -> int:
    """Record live configurations that already match the YAML but not state.

    Terraform refreshes state on every apply; without this, a model adopted
    by hand or recovered after a crash would show as changed outside llmplan
    forever.  Returns how many were recorded.
    """
    # a moved model's record moves with it (Executor._move); it is not refreshed under its new address first
    unchanged = [(change.address, change.model_id) for change in plan.changes if change.action == NO_OP and not change.moved]
    return len(refresh_state(unchanged, state, recorder, live, capabilities))


def record_live(
    recorder: Recorder,
    *,
    address: str,
    live: Mapping[str, Any],
    capabilities: Capabilities | None,
    action: str,
) -> ResourceState:
    """Record a live configuration in state without changing the gateway
    (import, refresh), with an audit entry saying so."""
    model_id = str(live["model_id"]).lower()
    change = ResourceChange(address, model_id, NO_OP, live, live, (), live.get("version"))
    resource = resource_state(change, live, capabilities, recorder.clock())
    recorder.session.record_one(Change(recorded_without_request(recorder.environment, action, resource), resource=resource))
    return resource

"""Settling what an interrupted run left open, before this run's checkpoint moves past it (apply, refresh, import).

Every ``pending`` update without an outcome gets one (:func:`planner.core.settling.reconciliation`):
a change found landed is recorded as one unit of work (state, ``success``
entry, governance event), so the next plan does not call it a change made
outside llmplan; one that did not land gets ``failure`` (``interrupted``).
Then, with a webhook configured, every success since the last checkpoint
whose event was never queued (a crash between the entry and its event, in
an llmplan that wrote them apart) is queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from planner.adapters.records.interfaces import Change
from planner.app.session import RecordsSession
from planner.core.diff import to_payload
from planner.core.settling import reconciliation
from planner.model.audit import SUCCESS, UPDATE_ACTION
from planner.model.clock import utc_now
from planner.model.configuration import payload_hash
from planner.model.state import ResourceState, State

EventBuilder = Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Settled:
    """What settling an interrupted run did: outcomes written, and events queued late."""

    reconciled: tuple[dict[str, Any], ...] = ()
    announced: tuple[str, ...] = ()


def settle(session: RecordsSession, live: Mapping[str, Mapping[str, Any] | None], *, event_for: EventBuilder | None) -> Settled:
    """Close every operation an interrupted run left open, and announce what it did not; ``session.state`` is read again
    when anything was recorded in it."""
    recent = session.records.audit.recent()
    changes = []
    for fields in reconciliation(recent.entries, live, session.environment):
        configuration = live.get(str(fields["model_id"]).lower()) if fields["status"] == SUCCESS else None
        if configuration is None or not isinstance(configuration.get("version"), int):
            changes.append(Change(audit_fields=fields))
            continue
        landed = to_payload(configuration)
        announce = (lambda entry, landed=landed: event_for(entry, landed)) if event_for is not None else None
        changes.append(Change(audit_fields=fields, resource=_landed(session.state, fields, configuration), event_for=announce))
    reconciled = [recorded.entry for recorded in session.record(changes) if recorded.entry is not None] if changes else []
    if any(entry["status"] == SUCCESS for entry in reconciled):
        session.reread()
    if event_for is None:
        return Settled(tuple(reconciled))
    queued = session.records.outbox.queued_ids()
    announced, late = [], []
    for entry in [*recent.since_checkpoint, *reconciled]:
        if entry.get("action") != UPDATE_ACTION or entry.get("status") != SUCCESS or entry.get("audit_id") in queued:
            continue
        configuration = _configuration_carrying(session.state, entry, live)
        if configuration is not None:
            late.append(Change(event=event_for(entry, configuration)))
            announced.append(str(entry.get("address")))
    if late:
        session.record(late)
    return Settled(tuple(reconciled), tuple(announced))


def _landed(state: State | None, fields: Mapping[str, Any], live: Mapping[str, Any]) -> ResourceState:
    """The state record of a change found landed: the live configuration, the capabilities state knew."""
    address = str(fields["address"])
    model_id = str(fields["model_id"]).lower()
    previous = state.resources.get(address) if state is not None else None
    configuration = to_payload(live)
    return ResourceState(
        address=address,
        model_id=model_id,
        configuration=configuration,
        version=int(live["version"]),
        payload_hash=payload_hash(configuration),
        applied_at=utc_now(),
        capabilities=previous.capabilities if previous is not None and previous.model_id.lower() == model_id else None,
    )


def _configuration_carrying(state: State | None, entry: Mapping[str, Any], live: Mapping[str, Mapping[str, Any] | None]) -> dict[str, Any] | None:
    """The configuration an entry's payload hash names: as recorded in state, else as live now."""
    address, model_id = str(entry.get("address")), str(entry.get("model_id", "")).lower()
    candidates = [
        state.resources[address].configuration if state is not None and address in state.resources else None,
        live.get(model_id),
    ]
    for configuration in candidates:
        if configuration is not None and payload_hash(to_payload(configuration)) == entry.get("payload_hash"):
            return to_payload(configuration)
    return None

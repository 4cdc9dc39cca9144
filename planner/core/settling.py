"""What an interrupted run left open, and how each open operation ended, judged from the live configuration.

An update's ``pending`` entry is written before its PUT; its outcome entry
after. A run killed in between (or whose answer was lost and never read
back) leaves the operation open. The next run closes it: the live
configuration carries exactly the payload that was being sent → it
landed (``success``); otherwise it did not (``failure``, ``interrupted``).
A landing is recorded once: if the live version already has a success
entry (another run recorded that very landing), the open operation is not
the one that produced it. Pure functions of the entries and the live
configurations.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from planner.core.diff import to_payload
from planner.model.audit import FAILURE, PENDING, SETTLED, SUCCESS, UPDATE_ACTION
from planner.model.configuration import payload_hash

# what an outcome written by settling copies from its pending entry
CARRIED = ("operation_id", "address", "model_id", "action", "payload_hash", "compliance_mode", "plan_checksum", "safety", "changes")


def unsettled_operations(entries: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """``pending`` update entries that never got an outcome (a crash mid-PUT)."""
    open_ops: dict[str, Mapping[str, Any]] = {}
    for entry in entries:
        operation = entry.get("operation_id")
        if not operation or entry.get("action") != UPDATE_ACTION:
            continue
        if entry.get("status") == PENDING:
            open_ops[operation] = entry
        else:
            open_ops.pop(operation, None)
    return list(open_ops.values())


def reconciliation(entries: Sequence[Mapping[str, Any]], live: Mapping[str, Mapping[str, Any] | None], environment: str) -> list[dict[str, Any]]:
    """The outcome entries that close every unsettled operation, judged from the live configuration."""
    landings = {(str(entry.get("model_id", "")).lower(), entry.get("version")) for entry in entries if entry.get("action") == UPDATE_ACTION and entry.get("status") == SUCCESS}
    outcomes = []
    for entry in unsettled_operations(entries):
        model_id = str(entry.get("model_id", "")).lower()
        configuration = live.get(model_id)
        version = configuration.get("version") if configuration is not None else None
        carries = configuration is not None and payload_hash(to_payload(configuration)) == entry.get("payload_hash")
        recorded_already = carries and (model_id, version) in landings
        fields = {key: entry[key] for key in CARRIED if key in entry}
        fields.update(environment=environment, status=SUCCESS if carries and not recorded_already else FAILURE, latency_ms=0, resolved=SETTLED)
        if recorded_already:
            message = f"the apply was interrupted before this request's outcome was recorded; version {version} of the live configuration carries its payload, but another operation recorded that landing"
            fields.update(error_code="interrupted", error_message=message)
        elif carries:
            if version is not None:
                fields["version"] = version
            landings.add((model_id, version))
        else:
            fields.update(error_code="interrupted", error_message="the apply was interrupted before this request's outcome was recorded; the live configuration does not carry it")
        outcomes.append(fields)
    return outcomes

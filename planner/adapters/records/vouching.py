"""The state and the audit trail vouch for each other.

Every commit of a new state first appends a ``state_commit`` audit entry
(its lineage, serial and a checksum of its content) to the hash chain, then
writes the state naming that entry (``audit_head``). A checksum anyone can
recompute cannot make an edited state pass: its content no longer matches
the chained entry, and rewriting that entry breaks the chain. A state of
another lineage put in place names an entry that is not in this trail.

:func:`state_problems` is what plan, apply and ``audit verify`` check; drift
and ``state show`` report the same problems as warnings.
"""

from __future__ import annotations

from typing import Any, Mapping

from planner.adapters.records.interfaces import Records
from planner.model.audit import COMMIT_ACTION
from planner.model.state import AuditHead, State


def commit_entry(state: State, environment: str) -> dict[str, Any]:
    """The audit fields that vouch for ``state``."""
    return {
        "action": COMMIT_ACTION,
        "status": "success",
        "environment": environment,
        "lineage": state.lineage,
        "serial": state.serial,
        "state_checksum": state.content_checksum(),
    }


def head_of(entry: Mapping[str, Any]) -> AuditHead:
    return AuditHead(str(entry["audit_id"]), str(entry["entry_hash"]))


def state_problems(records: Records) -> list[str]:
    """What is wrong between the committed state and the audit trail; empty when they vouch for each other.

    A state written before states named their entry (no ``audit_head``) is
    taken as it is, unless the trail's checkpointed entry is a state commit
    (then the name was removed).
    """
    state = records.state.committed()  # reading it notices a checksum that does not hold
    problems = [records.state.tampered] if records.state.tampered else []
    if state is None:
        return problems
    where = records.name
    if state.audit_head is None:
        latest = _latest_commit(records)
        if latest is not None:
            problems.append(f"the state in {where} names no audit entry, but the audit trail vouches for serial {latest.get('serial')}: the state was replaced or edited")
        return problems
    entry = records.audit.find(state.audit_head.entry_hash)
    if entry is None or entry.get("action") != COMMIT_ACTION:
        problems.append(f"the state in {where} names audit entry {state.audit_head.audit_id}, which is not in its audit trail: it is another environment's state, or was put back from elsewhere")
        return problems
    expected = {"lineage": state.lineage, "serial": state.serial, "state_checksum": state.content_checksum()}
    differing = [name for name, value in expected.items() if entry.get(name) != value]
    if differing:
        problems.append(
            f"the state in {where} does not match the audit entry that vouches for it ({', '.join(differing)} differ: "
            f"the entry records lineage {entry.get('lineage')}, serial {entry.get('serial')}); it was edited outside llmplan"
        )
    return problems


def _latest_commit(records: Records) -> Mapping[str, Any] | None:
    for entry in [*reversed(records.audit.recent().entries), records.audit.checkpointed()]:
        if entry is not None and entry.get("action") == COMMIT_ACTION:
            return entry
    return None

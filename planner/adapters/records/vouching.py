"""The state and the audit trail vouch for each other, and both say whose they are.

Every commit of a new state first appends a ``state_commit`` audit entry
(its environment, lineage, serial and a checksum of its content) to the
hash chain, then writes the state naming that entry (``audit_head``) and
where it is in the trail (``position``). A checksum anyone can recompute
cannot make an edited state pass: its content no longer matches the
chained entry, and rewriting that entry breaks the chain. A state of
another lineage put in place names an entry that is not in this trail; a
state or a trail copied, moved or linked from another environment names
that environment.

:func:`state_problems` is what plan, apply, import and ``audit verify``
check; drift and ``state show`` report the same problems as warnings.
Checking reads the state and one entry, whatever the length of history.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from planner.adapters.records.interfaces import AuditReader, StateSnapshot
from planner.model.audit import COMMIT_ACTION, SUCCESS
from planner.model.state import AuditHead, State


def commit_entry(state: State, environment: str) -> dict[str, Any]:
    """The audit fields that vouch for ``state``."""
    return {
        "action": COMMIT_ACTION,
        "status": SUCCESS,
        "environment": environment,
        "lineage": state.lineage,
        "serial": state.serial,
        "state_checksum": state.content_checksum(),
    }


def head_of(entry: Mapping[str, Any], position: int | None = None) -> AuditHead:
    return AuditHead(str(entry["audit_id"]), str(entry["entry_hash"]), position)


def placed(state: State, position_of: Callable[[str], int | None]) -> State:
    """``state`` copied from another backend, its vouching entry's position as this trail numbers it."""
    if state.audit_head is None:
        return state
    return state.vouched_by(AuditHead(state.audit_head.audit_id, state.audit_head.entry_hash, position_of(state.audit_head.entry_hash)))


ANOTHER_ENVIRONMENT = "copied, moved or linked here from another environment"  # how a problem says the records are not this environment's


def state_problems(snapshot: StateSnapshot, audit: AuditReader, *, environment: str, where: str) -> list[str]:
    """What is wrong between the committed state, its environment and the audit trail; empty when they vouch for each other.

    A state written before states named their entry (no ``audit_head``) is
    taken as it is, unless the trail's checkpointed entry is a state commit
    (then the name was removed). One written before entries had positions
    is looked for in the trail (once: its next commit records the position).
    """
    state = snapshot.committed
    problems = [snapshot.tampered] if snapshot.tampered else []
    if state is None:
        return problems
    if state.environment is not None and state.environment != environment:
        problems.append(f"the state in {where} belongs to environment {state.environment}, not {environment}: it was {ANOTHER_ENVIRONMENT}")
        return problems
    if state.audit_head is None:
        latest = _latest_commit(audit)
        if latest is not None:
            problems.append(f"the state in {where} names no audit entry, but the audit trail vouches for serial {latest.get('serial')}: the state was replaced or edited")
        return problems
    entry = _vouching_entry(audit, state.audit_head)
    if entry is None or entry.get("action") != COMMIT_ACTION:
        problems.append(f"the state in {where} names audit entry {state.audit_head.audit_id}, which is not in its audit trail: it is another environment's state, or was put back from elsewhere")
        return problems
    owner = entry.get("environment")
    if isinstance(owner, str) and owner != environment:
        problems.append(f"the state in {where} is vouched for by an entry of environment {owner}, not {environment}: the records were {ANOTHER_ENVIRONMENT}")
        return problems
    expected = {"lineage": state.lineage, "serial": state.serial, "state_checksum": state.content_checksum()}
    differing = [name for name, value in expected.items() if entry.get(name) != value]
    if differing:
        problems.append(
            f"the state in {where} does not match the audit entry that vouches for it ({', '.join(differing)} differ: "
            f"the entry records lineage {entry.get('lineage')}, serial {entry.get('serial')}); it was edited outside llmplan"
        )
    return problems


def _vouching_entry(audit: AuditReader, head: AuditHead) -> Mapping[str, Any] | None:
    """The entry ``head`` names: read at its position, or for a state without one, looked for."""
    if head.position is not None:
        entry = audit.entry_at(head.position)
        return entry if entry is not None and entry.get("entry_hash") == head.entry_hash else None
    return next((entry for entry in (*reversed(audit.recent().entries), *audit.entries()) if entry.get("entry_hash") == head.entry_hash), None)


def _latest_commit(audit: AuditReader) -> Mapping[str, Any] | None:
    for entry in [*reversed(audit.recent().entries), audit.checkpointed()]:
        if entry is not None and entry.get("action") == COMMIT_ACTION:
            return entry
    return None

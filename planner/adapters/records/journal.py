"""The journal: changes recorded since the last commit, and how they fold into the state.

Pure: each backend stores journal entries its own way (lines of a file, rows
of a table) and folds them with :func:`fold`, so both give the same state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from planner.model.configuration import canonical_json
from planner.model.errors import StateError
from planner.model.state import ResourceState, State, seal, sealed_intact


@dataclass(frozen=True)
class JournalChange:
    """One change recorded since the last commit: a resource recorded, or an address forgotten (a journal line, a journal row)."""

    lineage: str
    address: str
    resource: ResourceState | None  # None = forget

    def to_line(self) -> str:
        if self.resource is None:
            return canonical_json(seal({"lineage": self.lineage, "op": "forget", "address": self.address}))
        return canonical_json(seal({"lineage": self.lineage, "op": "record", "resource": self.resource._json_view()}))

    @classmethod
    def from_line(cls, data: Any, *, source: str) -> "JournalChange":
        if not isinstance(data, Mapping) or not isinstance(data.get("lineage"), str):
            raise StateError(f"{source} is not a journal entry (no lineage)")
        if data.get("op") == "record":
            if sealed_intact(data) and isinstance(data.get("resource"), dict):
                resource = ResourceState._unchecked(data["resource"], owned=True)  # validated by record() before it was written
            else:
                resource = ResourceState.from_dict(data.get("resource"), source=source)
            return cls(data["lineage"], resource.address, resource)
        if data.get("op") == "forget" and isinstance(data.get("address"), str):
            return cls(data["lineage"], data["address"], None)
        raise StateError(f"{source} is not a journal entry (op must be record or forget)")


def _touched_differ(before: Mapping[str, ResourceState], after: Mapping[str, ResourceState], touched: set[str]) -> bool:
    """Whether the journal changed anything: only the addresses it touched can differ (O(changes), not O(state))."""
    for address in touched:
        old, new = before.get(address), after.get(address)
        if (old is None) != (new is None):
            return True
        if old is not None and new is not None and old.content_key != new.content_key:
            return True
    return False


def fold(persisted: State | None, changes: Sequence[JournalChange]) -> State | None:
    """Replay the journal over the persisted state; the same changes twice give the same state.

    Returns the persisted object itself when nothing changed (so a commit knows
    there is nothing to write), else a new state with the serial bumped.
    """
    if persisted is None and not changes:
        return None
    if persisted is not None and not changes:
        return persisted
    base = persisted if persisted is not None else State.empty(changes[0].lineage)
    resources = dict(base.resources)
    for change in changes:
        if change.resource is None:
            resources.pop(change.address, None)
        else:
            resources[change.address] = change.resource
    if persisted is not None and not _touched_differ(persisted.resources, resources, {change.address for change in changes}):
        return persisted
    return State(base.lineage, base.serial + 1, resources)

"""The journal: changes recorded since the last commit, and how they fold into the state.

Each backend keeps the changes of a run that has not committed yet: the
local files as lines of ``journal.jsonl`` (:class:`JournalLine`, which also
carries the audit entry and the governance event of the change, so one
durable write records all three), PostgreSQL as rows of its journal table.
Both fold them with :func:`fold`, so both give the same state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from planner.model.configuration import canonical_json
from planner.model.errors import StateError
from planner.model.state import ResourceState, State, seal, sealed_intact


@dataclass(frozen=True)
class JournalChange:
    """One change to the state since the last commit: a resource recorded, or an address forgotten."""

    lineage: str
    address: str
    resource: ResourceState | None  # None = forget

    def to_dict(self) -> dict[str, Any]:
        if self.resource is None:
            return {"lineage": self.lineage, "op": "forget", "address": self.address}
        return {"lineage": self.lineage, "op": "record", "resource": self.resource._json_view()}

    def to_line(self) -> str:
        """The sealed text of the change alone (a PostgreSQL journal row)."""
        return canonical_json(seal(self.to_dict()))

    @classmethod
    def from_dict(cls, data: Any, *, source: str, trusted: bool = False) -> "JournalChange":
        """``trusted``: part of a sealed record we wrote (and validated) ourselves."""
        if not isinstance(data, Mapping) or not isinstance(data.get("lineage"), str):
            raise StateError(f"{source} is not a journal entry (no lineage)")
        if data.get("op") == "record":
            if (trusted or sealed_intact(data)) and isinstance(data.get("resource"), dict):
                resource = ResourceState._unchecked(data["resource"], owned=True)  # validated before it was written
            else:
                resource = ResourceState.from_dict(data.get("resource"), source=source)
            return cls(data["lineage"], resource.address, resource)
        if data.get("op") == "forget" and isinstance(data.get("address"), str):
            return cls(data["lineage"], data["address"], None)
        raise StateError(f"{source} is not a journal entry (op must be record or forget)")


@dataclass(frozen=True)
class JournalLine:
    """One line of ``journal.jsonl``: a unit of work whole — its state changes, its audit entry, its event.

    Sealed by a checksum and written with the lease's fencing token; the
    audit trail and the outbox are appended from it, and caught up from it
    after a crash, so a change is in all three or in none.
    """

    lineage: str
    fence: int
    changes: tuple[JournalChange, ...] = ()
    entry: Mapping[str, Any] | None = None
    event: Mapping[str, Any] | None = None

    def to_line(self) -> str:
        return canonical_json(
            seal(
                {
                    "lineage": self.lineage,
                    "fence": self.fence,
                    "state": [change.to_dict() for change in self.changes],
                    "entry": dict(self.entry) if self.entry is not None else None,
                    "event": dict(self.event) if self.event is not None else None,
                }
            )
        )

    @classmethod
    def from_data(cls, data: Any, *, source: str) -> "JournalLine":
        """A parsed line; a line of an llmplan before 0.2 holds one state change alone."""
        if isinstance(data, Mapping) and "op" in data:
            change = JournalChange.from_dict(data, source=source)
            return cls(change.lineage, 0, (change,))
        if not isinstance(data, Mapping) or not isinstance(data.get("lineage"), str) or not isinstance(data.get("state"), list):
            raise StateError(f"{source} is not a journal line")
        if not sealed_intact(data):
            raise StateError(f"{source} does not match its checksum (edited or corrupted)")
        changes = tuple(JournalChange.from_dict({**item, "lineage": data["lineage"]}, source=source, trusted=True) for item in data["state"])
        fence = data.get("fence")
        return cls(data["lineage"], fence if isinstance(fence, int) else 0, changes, data.get("entry"), data.get("event"))


def _touched_differ(before: Mapping[str, ResourceState], after: Mapping[str, ResourceState], touched: set[str]) -> bool:
    """Whether the journal changed anything: only the addresses it touched can differ (O(changes), not O(state))."""
    for address in touched:
        old, new = before.get(address), after.get(address)
        if (old is None) != (new is None):
            return True
        if old is not None and new is not None and old.content_key != new.content_key:
            return True
    return False


def fold(persisted: State | None, changes: Sequence[JournalChange], *, environment: str | None = None) -> State | None:
    """Replay the journal over the persisted state; the same changes twice give the same state.

    Returns the persisted object itself when nothing changed (so a commit knows
    there is nothing to write), else a new state with the serial bumped,
    naming ``environment``.
    """
    if persisted is None and not changes:
        return None
    if persisted is not None and not changes:
        return persisted
    base = persisted if persisted is not None else State.empty(changes[0].lineage, environment=environment)
    resources = dict(base.resources)
    for change in changes:
        if change.resource is None:
            resources.pop(change.address, None)
        else:
            resources[change.address] = change.resource
    if persisted is not None and not _touched_differ(persisted.resources, resources, {change.address for change in changes}):
        return persisted
    return State(base.lineage, base.serial + 1, resources, environment=environment or base.environment)

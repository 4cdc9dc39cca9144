"""The four small interfaces behind which an environment's records live.

In the spirit of Terraform's statemgr (Reader / Writer / Persister /
Locker): apply, refresh, import and the records commands use only these, so
a backend (files under ``state/<env>/``, PostgreSQL) is a choice made in
``environment.yaml``, and the contract suite in ``tests/records/contract``
proves each backend keeps the same promises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Protocol

from planner.errors import AuditError
from planner.records.model import AuditHead, LockInfo, ResourceState, State


class StateStore(Protocol):
    """The state of one environment: lineage, serial, resources.

    - ``read()`` returns the current state including every change recorded
      since the last commit, exactly as ``commit()`` would persist it (its
      serial already bumped if those changes alter the content), or ``None``
      if nothing was ever written.
    - ``record(resource)`` / ``forget(address)`` are durable when they
      return: a crash afterwards loses nothing; the next ``read()`` shows them.
    - ``commit(vouch)`` persists the recorded changes as the new state, bumping
      the serial only if the content changed, and returns it; ``vouch``
      writes the audit entry that vouches for the new state and names it;
      ``rewrite`` writes (and vouches for) the state even if nothing changed.
    - A state of another lineage than the one first read (or the one the
      store was opened for) is refused with StateError, never overwritten.
    - ``warnings`` lists recoveries the caller should report.
    """

    warnings: list[str]
    tampered: str | None  # set when the stored state no longer matches its checksum

    def read(self) -> State | None: ...

    def record(self, resource: ResourceState) -> None: ...

    def forget(self, address: str) -> None: ...

    def commit(self, vouch: Callable[[State], AuditHead] | None = None, *, rewrite: bool = False) -> State: ...

    def committed(self) -> State | None:
        """The state as last committed, without the changes of a run that did not finish."""
        ...

    def replace(self, state: State) -> None:
        """Write ``state`` as it is, lineage and serial kept (``state migrate`` only)."""
        ...


class Locker(Protocol):
    """The environment's one lock: a second holder is refused at once, naming the first.

    - ``lock()`` fails with :class:`~planner.errors.LockHeld` naming the
      holder, or polls up to ``timeout`` seconds (saying so when it waits
      longer than a few seconds).
    - A holder that dies never leaves the environment locked: the lock is
      freed by the OS or the database with the holder's process or session.
    - ``force_unlock(lock_id)`` clears a lock whose holder is gone, and
      refuses while the holder is alive or for a wrong id.
    """

    def lock(self, operation: str, *, timeout: float = 0.0) -> LockInfo: ...

    def unlock(self, lock: LockInfo) -> None: ...

    def holder(self) -> LockInfo | None: ...

    def force_unlock(self, lock_id: str) -> None: ...


@dataclass(frozen=True)
class AuditReport:
    """Outcome of a chain check. ``first_bad`` is the 1-based entry (line)
    number and ``problem`` says in plain words what is wrong there.
    ``torn_tail``: the last entry is an incomplete write (a crash);
    :meth:`AuditStore.repair` fixes that case and only that one."""

    ok: bool
    entries: int
    first_bad_line: int | None = None
    problem: str | None = None
    torn_tail: bool = False

    def raise_if_broken(self, environment: str) -> None:
        if self.ok:
            return
        hint = (
            f"run `llmplan audit verify --env {environment} --repair` to set the torn line aside"
            if self.torn_tail
            else "restore the trail from a backup (or Git history); do not edit it by hand"
        )
        raise AuditError(f"audit trail of {environment} does not verify: {self.problem}", hint=hint)


@dataclass(frozen=True)
class RepairResult:
    """What :meth:`AuditStore.repair` did; ``repaired`` is False when there was nothing to do."""

    repaired: bool
    fragment_bytes: int = 0
    fragment_sha256: str | None = None
    torn_path: str | None = None
    entry: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class RecentEntries:
    """What a command needs of the trail's past, without reading all of it.

    ``entries`` run from the oldest operation the last checkpoint knew to be
    unsettled (a ``pending`` entry without an outcome) to the end;
    ``checkpointed`` of them were covered by that checkpoint, the rest were
    written after it (by a run that did not finish).
    """

    entries: tuple[dict[str, Any], ...]
    checkpointed: int

    @property
    def since_checkpoint(self) -> tuple[dict[str, Any], ...]:
        return self.entries[self.checkpointed :]


class AuditStore(Protocol):
    """The hash-chained, append-only audit trail.

    - ``append(fields)`` adds one entry, durable and chained on return;
      appends from many threads and processes stay one linear chain.
    - ``checkpoint()`` records the head (count, last hash, and the oldest
      unsettled operation), so removed tail entries are detected and later
      commands read only from there: ``recent()`` and ``verify_recent()``
      cost what happened since, never the length of history.
    - ``verify()`` checks the whole chain in constant memory; ``entries()``
      streams it.
    - ``repair()`` sets aside a torn last entry and records the repair.
    """

    def append(self, fields: Mapping[str, Any]) -> dict[str, Any]: ...

    def checkpoint(self) -> None: ...

    def recent(self) -> RecentEntries: ...

    def verify_recent(self) -> AuditReport: ...

    def verify(self) -> AuditReport: ...

    def entries(self, *, model_id: str | None = None) -> Iterator[dict[str, Any]]: ...

    def entries_since(self, since: str) -> Iterator[dict[str, Any]]:
        """Entries whose ``timestamp`` is at or after ``since`` (RFC 3339 text as llmplan writes
        it, ``2026-11-25T14:20:14.374Z``), oldest first, streamed. Finding where they start
        costs no read of the history before them (a report of the last N days)."""
        ...

    def find(self, entry_hash: str) -> dict[str, Any] | None:
        """The entry with this hash, or None (cheap for entries at or after the checkpoint)."""
        ...

    def checkpointed(self) -> dict[str, Any] | None:
        """The entry the checkpoint ends at, or None."""
        ...

    def repair(self) -> RepairResult: ...

    def append_verbatim(self, entries: Iterator[dict[str, Any]]) -> int:
        """Append entries chained elsewhere, unchanged, refusing any that do not chain on (``state migrate`` only)."""
        ...


class Outbox(Protocol):
    """Governance events waiting for delivery, durable before the first send.

    - ``enqueue(event)`` is durable on return; ``pending()`` lists events not
      yet delivered, oldest first, each once; ``queued_ids()`` every id still
      held, delivered or not (until ``compact()``).
    """

    warnings: list[str]

    def enqueue(self, event: Mapping[str, Any]) -> None: ...

    def pending(self) -> list[dict[str, Any]]: ...

    def mark_delivered(self, event_id: str) -> None: ...

    def queued_ids(self) -> set[str]: ...

    def compact(self) -> None: ...


@dataclass(frozen=True)
class RecordedChange:
    """One unit of work: an audit entry, the state change it stands for, and the event it announces.

    ``resource`` is recorded in state (a change that landed, a refresh, an
    import); ``forget`` names an address dropped from state; both for a move
    (the resource under its new address, the old address forgotten, in that
    order); neither for an entry that changes no state (a failure). ``event_for`` builds the
    governance event from the entry as written (its id and timestamp), or
    is ``None`` when nobody is to be told.
    """

    audit_fields: Mapping[str, Any]
    resource: ResourceState | None = None
    forget: str | None = None
    event_for: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None


@dataclass(frozen=True)
class Recorded:
    entry: dict[str, Any]
    event: dict[str, Any] | None = None


class Records(Protocol):
    """One environment's records in one backend: the four stores and the unit of work."""

    @property
    def name(self) -> str:
        """Where the records are, for messages: "local files in state/dev", "PostgreSQL user@host:5432/db (schema llmplan), environment dev"."""
        ...

    @property
    def state(self) -> StateStore: ...

    @property
    def locker(self) -> Locker: ...

    @property
    def audit(self) -> AuditStore: ...

    @property
    def outbox(self) -> Outbox: ...

    def record(self, change: RecordedChange) -> Recorded:
        """State, audit success entry and outbox event of one landed change, together:
        one transaction in a database; on files, that durable order, each step
        fsynced before the next, so a crash leaves a prefix the next run completes."""
        ...

    def remember_drift(self, result: Mapping[str, Any]) -> None:
        """Keep a drift check's result (plain JSON) as the environment's last, replacing the one before;
        what ``llmplan report --offline`` shows instead of reading the gateway."""
        ...

    def last_drift(self) -> dict[str, Any] | None:
        """The last drift result remembered, or None."""
        ...

    def close(self) -> None: ...

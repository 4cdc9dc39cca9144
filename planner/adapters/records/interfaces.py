"""The small interfaces behind which an environment's records live, split the way Terraform's statemgr is.

Reading (:class:`StateReader`, :class:`AuditReader`), locking
(:class:`Locker`, whose :class:`Lease` carries a fencing token), writing
(:meth:`Records.record` and :meth:`Records.commit`, every write under a
lease), and delivery (:class:`Outbox`). What only one command needs sits
behind an optional interface of its own: ``state migrate`` uses
:class:`Migratable`, ``audit verify --repair`` :class:`Repairable`.
apply, refresh, import and the records commands use nothing else, so a
backend (files under ``state/<env>/``, PostgreSQL) is a choice made in
``environment.yaml``, and the contract suite in ``tests/records/contract``
proves each backend keeps the same promises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

from planner.model.errors import AuditError, LockLost
from planner.model.state import LockInfo, ResourceState, State

# --- reading ---------------------------------------------------------------


@dataclass(frozen=True)
class StateSnapshot:
    """The state as stored, read at one instant.

    ``state`` includes every change recorded since the last commit (as
    :meth:`Records.commit` would persist it, its serial already bumped if the
    content changed); ``committed`` is the state as last committed;
    ``tampered`` says why the stored state no longer matches its own
    checksum; ``recoveries`` are what reading had to work around (a torn
    journal line left by a crash), for the caller to report.
    """

    state: State | None
    committed: State | None
    tampered: str | None = None
    recoveries: tuple[str, ...] = ()


class StateReader(Protocol):
    def read(self) -> StateSnapshot:
        """The current state; a state of another lineage than the one first read is refused with StateError."""
        ...


@dataclass(frozen=True)
class AuditReport:
    """Outcome of a chain check. ``first_bad_line`` is the 1-based entry (line)
    number and ``problem`` says in plain words what is wrong there.
    ``torn_tail``: the last entry is an incomplete write (a crash);
    :meth:`Repairable.repair` fixes that case and only that one."""

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


class AuditReader(Protocol):
    """The hash-chained, append-only audit trail, read.

    - ``entries()`` streams it, oldest first; from ``position`` on (a
      position an entry was written at, as :class:`Recorded` says) it reads
      only what follows.
    - ``entry_at(position)`` reads one entry: what vouching needs, in
      constant time whatever the length of history.
    - ``recent()`` and ``verify_recent()`` cost what happened since the last
      checkpoint; ``verify()`` checks the whole chain in constant memory.
    """

    def entries(self, *, model_id: str | None = None, position: int | None = None) -> Iterator[dict[str, Any]]: ...

    def entry_at(self, position: int) -> dict[str, Any] | None: ...

    def entries_since(self, since: str) -> Iterator[dict[str, Any]]:
        """Entries whose ``timestamp`` is at or after ``since`` (RFC 3339 text as llmplan writes
        it, ``2026-11-25T14:20:14.374Z``), oldest first, streamed. Finding where they start
        costs no read of the history before them (a report of the last N days)."""
        ...

    def checkpointed(self) -> dict[str, Any] | None:
        """The entry the last checkpoint ends at, or None."""
        ...

    def recent(self) -> RecentEntries: ...

    def verify_recent(self) -> AuditReport: ...

    def verify(self) -> AuditReport: ...


# --- locking ---------------------------------------------------------------


@dataclass(frozen=True)
class Lease:
    """A held lock: who holds it, and its fencing token.

    The token is a number that only grows, kept with the records: each
    acquisition takes the next one. Every write carries the lease, and the
    store refuses a write whose token is no longer the current one (in the
    same transaction, or under the file lock), so a holder that lost its lock
    without noticing (a database session ended, a lock file removed) can
    never write beside the next holder.
    """

    info: LockInfo
    token: int

    def taken_over(self, environment: str, current: int | None, holder: LockInfo | None) -> LockLost:
        """The refusal of this lease's writes once another holder took token ``current``, naming that holder while it holds the lock."""
        now = f" by {holder.describe()}" if holder is not None and holder.fence in (current, None) else " by another holder (which has released it since)"
        return LockLost(f"the lock of environment {environment} was taken over{now} (fencing token {current}; this {self.info.operation} holds {self.token})")


class Locker(Protocol):
    """The environment's one lock: a second holder is refused at once, naming the first.

    - ``lock()`` fails with :class:`~planner.model.errors.LockHeld` naming the
      holder, or polls up to ``timeout`` seconds (saying so when it waits
      longer than a few seconds).
    - A holder that dies never leaves the environment locked: the lock is
      freed by the OS or the database with the holder's process or session.
    - ``lost(lease)`` says why a lease no longer holds (its session ended, its
      lock was replaced, another holder took the next token), or None.
    - ``force_unlock(lock_id)`` clears a lock whose holder is gone, and
      refuses while the holder is alive or for a wrong id.
    """

    def lock(self, operation: str, *, timeout: float = 0.0) -> Lease: ...

    def unlock(self, lease: Lease) -> None: ...

    def lost(self, lease: Lease) -> str | None: ...

    def holder(self) -> LockInfo | None: ...

    def force_unlock(self, lock_id: str) -> None: ...


# --- delivery ----------------------------------------------------------------


class Outbox(Protocol):
    """Governance events waiting for delivery; an event enters it with its change (:meth:`Records.record`).

    ``pending()`` lists events not yet delivered, oldest first, each once;
    ``queued_ids()`` every id still held, delivered or not (until
    ``compact()``).
    """

    def pending(self) -> list[dict[str, Any]]: ...

    def mark_delivered(self, event_id: str) -> None: ...

    def queued_ids(self) -> set[str]: ...

    def compact(self) -> None: ...


# --- writing -------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One unit of work: an audit entry, the state change it stands for, and the event it announces.

    ``audit_fields`` is the entry to append (the store chains it); ``resource``
    is recorded in state (a change that landed, a refresh, an import);
    ``forget`` names an address dropped from state; both for a move (the
    resource under its new address, the old address forgotten); neither for
    an entry that changes no state (a pending intent, a failure).
    ``event_for`` builds the governance event from the entry as written (its
    id and timestamp), or ``event`` is one ready made (announcing an entry an
    interrupted run wrote without it). Recorded together or not at all.
    """

    audit_fields: Mapping[str, Any] | None = None
    resource: ResourceState | None = None
    forget: str | None = None
    event_for: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    event: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Recorded:
    """What a unit of work wrote: the entry (with where it is in the trail) and the event."""

    entry: dict[str, Any] | None
    event: dict[str, Any] | None = None
    position: int | None = None


class Records(Protocol):
    """One environment's records in one backend.

    ``record(lease, changes)`` makes each change durable before it returns,
    changes recorded at the same moment sharing one durable write (group
    commit); ``commit(lease)`` persists the recorded changes as the new
    state, vouched for by a ``state_commit`` audit entry, and moves the
    audit checkpoint. Both refuse a lease whose token is no longer the
    current one (:class:`~planner.model.errors.LockLost`).
    """

    @property
    def name(self) -> str:
        """Where the records are, for messages: "local files in state/dev", "PostgreSQL user@host:5432/db (schema llmplan), environment dev"."""
        ...

    @property
    def environment(self) -> str: ...

    @property
    def state(self) -> StateReader: ...

    @property
    def locker(self) -> Locker: ...

    @property
    def audit(self) -> AuditReader: ...

    @property
    def outbox(self) -> Outbox: ...

    def is_empty(self) -> bool:
        """Nothing is recorded for this environment here: no state, no audit entry (what a backend switch finds)."""
        ...

    def refresh(self, lease: Lease) -> StateSnapshot:
        """Under a lease: bring what a crash left up to date (the trail and the outbox caught up from the journal), then read the state."""
        ...

    def record(self, lease: Lease, changes: Sequence[Change]) -> list[Recorded]: ...

    def commit(self, lease: Lease, *, rewrite: bool = False) -> State:
        """Persist the recorded changes, bumping the serial only if the content changed (``rewrite``: write
        and vouch for the state even then), vouch for it, checkpoint the trail; returns the state."""
        ...

    def close(self) -> None: ...


# --- what only one command needs --------------------------------------------------


@dataclass(frozen=True)
class RepairResult:
    """What :meth:`Repairable.repair` did; ``repaired`` is False when there was nothing to do."""

    repaired: bool
    fragment_bytes: int = 0
    fragment_sha256: str | None = None
    torn_path: str | None = None
    entry: Mapping[str, Any] | None = None


@runtime_checkable
class DriftMemory(Protocol):
    """The last drift check's result per environment (plain JSON), for ``llmplan report --offline``.

    An observation, not a record: drift takes no lock and no fencing token, and
    each result replaces the one before whole.
    """

    def remember_drift(self, result: Mapping[str, Any]) -> None: ...

    def last_drift(self) -> dict[str, Any] | None: ...


@runtime_checkable
class Repairable(Protocol):
    """``audit verify --repair``: a backend whose trail a crash can leave with a torn last entry."""

    def repair(self, lease: Lease) -> RepairResult: ...


@runtime_checkable
class Migratable(Protocol):
    """``state migrate``: records copied as they are, lineage, serial and every entry's hash kept."""

    def replace_state(self, lease: Lease, state: State) -> None: ...

    def append_verbatim(self, lease: Lease, entries: Iterable[dict[str, Any]]) -> int:
        """Entries chained elsewhere, unchanged; refused, with nothing written, unless they chain onto this trail."""
        ...

    def enqueue(self, lease: Lease, events: Iterable[Mapping[str, Any]]) -> None: ...

    def discard(self, lease: Lease) -> str:
        """Set this environment's records aside (a copy kept, named in the result) and remove them: a fresh
        start of another lineage that a migration is told to replace."""
        ...

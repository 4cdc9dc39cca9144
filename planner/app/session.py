"""One command's hold on an environment's records, from lock to finish.

apply, refresh, import and the state edits all need the same steps around
their work: take the lock (a lease with its fencing token), set aside a
torn audit line a crash left, catch up and read the state, check it is
this environment's and vouched for, record each change as one unit of
work, and at the end commit the state and release the lock, whatever
happened. While the lock is held a watchdog asks the locker every second
whether it still holds: a lost lock (a database session ended, a lock file
removed) stops the command from sending anything more, and the records
refuse its writes from the moment another holder took the lock (fencing).
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Sequence

from planner.adapters.records.interfaces import Change, Lease, Recorded, Records, Repairable
from planner.adapters.records.vouching import ANOTHER_ENVIRONMENT, state_problems
from planner.model.errors import AuditError, LockLost, RecordsMismatch, StateError
from planner.model.state import State

log = logging.getLogger("llmplan.records")

WATCH_SECONDS = 1.0  # how often the lock is checked while held


class RecordsSession:
    """``with RecordsSession(records, ...) as session:`` holds the lock for the block.

    Thread-safe: apply's workers record through it concurrently (and their
    units of work share durable writes).
    """

    def __init__(self, records: Records, *, operation: str, lock_timeout: float = 0.0, trust: str = "refuse") -> None:
        """``trust``: what to do with a state the audit trail does not vouch for —
        ``refuse`` it (apply, import), or ``warn`` and go on (refresh, which is the way out)."""
        self.records = records
        self.trust = trust
        self.environment = records.environment
        self.operation = operation
        self.lock_timeout = lock_timeout
        self.repair_note: str | None = None
        self.state: State | None = None
        self.committed: State | None = None
        self.lease: Lease | None = None
        self.untrusted: list[str] = []
        self.recoveries: list[str] = []
        self._recorded = False
        self._lost: str | None = None
        self._done = threading.Event()
        self._watch: threading.Thread | None = None

    def __enter__(self) -> "RecordsSession":
        self.lease = self.records.locker.lock(self.operation, timeout=self.lock_timeout)
        try:
            self.repair_note = self._repair_audit(self.lease)
            snapshot = self.records.refresh(self.lease)
            self.state = snapshot.state
            self.recoveries = list(snapshot.recoveries)
            self.untrusted = refuse_or_warn(self.records, self.trust)
        except BaseException:
            self.records.locker.unlock(self.lease)
            raise
        self._watch = threading.Thread(target=self._watch_lock, name="llmplan-lock-watch", daemon=True)
        self._watch.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        assert self.lease is not None
        self._done.set()
        try:
            if self._lost is None and (self._recorded or self.state is not None):  # an untouched new environment gets no empty state file
                self.committed = self.records.commit(self.lease, rewrite=bool(self.untrusted))
        finally:
            if self._watch is not None:
                self._watch.join(timeout=WATCH_SECONDS + 1)
            try:
                self.records.locker.unlock(self.lease)
            except StateError as gone:  # a lost lock has nothing to release
                log.debug("%s", gone)
        if self._lost is not None and not isinstance(error, LockLost):
            raise LockLost(self._lost)

    @property
    def lost(self) -> str | None:
        """Why the lock was lost (the watchdog noticed, or a write was refused), or None while it holds."""
        return self._lost

    @property
    def warnings(self) -> list[str]:
        return [*self.untrusted, *self.recoveries]

    def _watch_lock(self) -> None:
        assert self.lease is not None
        while not self._done.wait(WATCH_SECONDS):
            try:
                reason = self.records.locker.lost(self.lease)
            except StateError as failure:  # the records cannot be reached to ask: the writes will say
                log.debug("checking the lock: %s", failure)
                continue
            if reason is not None:
                self._lost = self._lost or reason
                log.warning("%s; nothing more is sent", reason)
                return

    def _repair_audit(self, lease: Lease) -> str | None:
        """A torn last audit line (a crash mid-write) is set aside and recorded,
        never chained onto; anything worse stops the command."""
        report = self.records.audit.verify_recent()
        if report.ok:
            return None
        if report.torn_tail and isinstance(self.records, Repairable):
            repaired = self.records.repair(lease)
            where = f"moved to {repaired.torn_path.rpartition('/')[2]}" if repaired.torn_path else "set aside"
            return f"audit trail: {report.problem}; the fragment was {where} and the repair recorded"
        raise AuditError(
            f"audit trail of {self.environment} does not verify: {report.problem}",
            hint=f"run `llmplan audit verify --env {self.environment}`: it names the first bad entry",
        )

    # --- recording ---------------------------------------------------------

    def record(self, changes: Sequence[Change]) -> list[Recorded]:
        """Units of work, durable when this returns; LockLost once another holder took the lock."""
        assert self.lease is not None
        if self._lost is not None:
            raise LockLost(self._lost)
        if any(change.resource is not None or change.forget is not None for change in changes):
            self._recorded = True
        try:
            return self.records.record(self.lease, changes)
        except LockLost as lost:
            self._lost = self._lost or lost.message
            raise

    def record_one(self, change: Change) -> Recorded:
        (recorded,) = self.record([change])
        return recorded

    def reread(self) -> None:
        """The state again, after units of work recorded in it (settling)."""
        self.state = self.records.state.read().state


def refuse_or_warn(records: Records, trust: str) -> list[str]:
    """The state's problems with its audit trail and its environment: StateError for ``refuse``, the list for ``warn``."""
    problems = state_problems(records.state.read(), records.audit, environment=records.environment, where=records.name)
    for problem in problems if trust != "refuse" else ():
        log.warning("%s", problem)
    if any(ANOTHER_ENVIRONMENT in problem for problem in problems):  # not a state to refresh: someone else's records
        raise RecordsMismatch(
            "; ".join(problems),
            hint=f"put them back where they belong; to start the records of {records.environment} afresh, move them aside "
            f"and run `llmplan refresh --env {records.environment}`; nothing was changed",
        )
    if problems and trust == "refuse":
        raise StateError(
            "; ".join(problems),
            hint=f"if the live gateway is right, `llmplan refresh --env {records.environment}` records it afresh; "
            "if the state is, put back state.json.backup (or the database's backup); nothing was changed",
        )
    return problems


__all__ = ["RecordsSession", "refuse_or_warn"]

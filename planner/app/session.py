"""One command's hold on an environment's records, from lock to finish.

apply, refresh and import all need the same steps around their work: take
the lock, set aside a torn audit line a crash left, read the state, settle
what an interrupted run left open (once the live configuration is known),
record each change as one unit of work, and at the end commit the state,
checkpoint the audit trail and release the lock, whatever happened.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Callable, Mapping, Sequence

from planner.adapters.records.interfaces import Recorded, RecordedChange, Records
from planner.adapters.records.vouching import commit_entry, head_of, state_problems
from planner.core.diff import to_payload
from planner.model.audit import FAILURE, PENDING, SETTLED, SUCCESS, UPDATE_ACTION
from planner.model.clock import utc_now
from planner.model.configuration import payload_hash
from planner.model.errors import AuditError, StateError
from planner.model.state import AuditHead, LockInfo, ResourceState, State

log = logging.getLogger("llmplan.records")


EventBuilder = Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Settled:
    """What settling an interrupted run did: outcomes written, and events queued late."""

    reconciled: tuple[dict[str, Any], ...] = ()
    announced: tuple[str, ...] = ()


class RecordsSession:
    """``with RecordsSession(records, ...) as session:`` holds the lock for the block.

    Thread-safe: apply's workers record through it concurrently.
    """

    def __init__(self, records: Records, *, environment: str, operation: str, lock_timeout: float = 0.0, trust: str = "refuse") -> None:
        """``trust``: what to do with a state the audit trail does not vouch for —
        ``refuse`` it (apply, import), or ``warn`` and go on (refresh, which is the way out)."""
        self.records = records
        self.trust = trust
        self.environment = environment
        self.operation = operation
        self.lock_timeout = lock_timeout
        self.repair_note: str | None = None
        self.state: State | None = None
        self.committed: State | None = None
        self._lock: LockInfo | None = None
        self._recorded = False
        self.untrusted: list[str] = []
        self._mutex = threading.Lock()

    def __enter__(self) -> "RecordsSession":
        self._lock = self.records.locker.lock(self.operation, timeout=self.lock_timeout)
        try:
            self.repair_note = self._repair_audit()
            self.state = self.records.state.read()
            self.untrusted = refuse_or_warn(self.records, self.environment, self.trust)
        except BaseException:
            self.records.locker.unlock(self._lock)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        assert self._lock is not None
        try:
            if self._recorded or self.state is not None:  # an untouched new environment gets no empty state file
                self.committed = self.records.state.commit(vouch=self._vouch, rewrite=bool(self.untrusted))
            self.records.audit.checkpoint()
        finally:
            self.records.locker.unlock(self._lock)

    def _vouch(self, state: State) -> AuditHead:
        return head_of(self.records.audit.append(commit_entry(state, self.environment)))

    @property
    def warnings(self) -> list[str]:
        return [*self.untrusted, *self.records.state.warnings, *self.records.outbox.warnings]

    def _repair_audit(self) -> str | None:
        """A torn last audit line (a crash mid-write) is set aside and recorded,
        never chained onto; anything worse stops the command."""
        report = self.records.audit.verify_recent()
        if report.ok:
            return None
        if report.torn_tail:
            repaired = self.records.audit.repair()
            where = f"moved to {repaired.torn_path.rpartition('/')[2]}" if repaired.torn_path else "set aside"
            return f"audit trail: {report.problem}; the fragment was {where} and the repair recorded"
        raise AuditError(
            f"audit trail of {self.environment} does not verify: {report.problem}",
            hint=f"run `llmplan audit verify --env {self.environment}`: it names the first bad entry",
        )

    # --- recording ---------------------------------------------------------

    def append(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """An audit entry that changes no state and announces nothing (a pending intent)."""
        with self._mutex:
            return self.records.audit.append(fields)

    def record(self, change: RecordedChange) -> Recorded:
        """One unit of work: state, audit entry, outbox event together."""
        with self._mutex:
            self._recorded = True
            return self.records.record(change)

    # --- settling what an interrupted run left open -------------------------

    def settle(self, live: Mapping[str, Mapping[str, Any] | None], *, event_for: EventBuilder | None) -> Settled:
        """Close what a killed run left open, before this run's checkpoint moves past it.

        Every ``pending`` update without an outcome (a crash mid-PUT, or an
        answer lost and never read back) gets one, judged from the live
        configuration: it carries exactly the payload that was being sent →
        the change landed: recorded as one unit of work (state, ``success``
        entry, governance event), so the next plan does not call it a change
        made outside llmplan; otherwise ``failure`` (``error_code:
        interrupted``). Then, with a webhook configured, every success since
        the last checkpoint whose event was never queued (a crash between
        the entry and its event) is queued. ``state`` is read again when
        anything was recorded in it.
        """
        recent = self.records.audit.recent()
        reconciled = []
        for fields in reconciliation(recent.entries, live, self.environment):
            configuration = live.get(str(fields["model_id"]).lower()) if fields["status"] == SUCCESS else None
            if configuration is None or not isinstance(configuration.get("version"), int):
                reconciled.append(self.append(fields))
                continue
            landed = to_payload(configuration)
            announce = (lambda entry, landed=landed: event_for(entry, landed)) if event_for is not None else None
            reconciled.append(self.record(RecordedChange(fields, resource=self._landed(fields, configuration), event_for=announce)).entry)
        if any(entry["status"] == SUCCESS for entry in reconciled):
            self.state = self.records.state.read()
        if event_for is None:
            return Settled(tuple(reconciled))
        queued = self.records.outbox.queued_ids()
        announced = []
        for entry in [*recent.since_checkpoint, *reconciled]:
            if entry.get("action") != UPDATE_ACTION or entry.get("status") != SUCCESS or entry.get("audit_id") in queued:
                continue
            configuration = self._configuration_carrying(entry, live)
            if configuration is not None:
                self.records.outbox.enqueue(event_for(entry, configuration))
                announced.append(str(entry.get("address")))
        return Settled(tuple(reconciled), tuple(announced))

    def _landed(self, fields: Mapping[str, Any], live: Mapping[str, Any]) -> ResourceState:
        """The state record of a change found landed: the live configuration, the capabilities state knew."""
        address = str(fields["address"])
        previous = self.state.resources.get(address) if self.state is not None else None
        configuration = to_payload(live)
        return ResourceState(
            address=address,
            model_id=str(fields["model_id"]).lower(),
            configuration=configuration,
            version=int(live["version"]),
            payload_hash=payload_hash(configuration),
            applied_at=utc_now(),
            capabilities=previous.capabilities if previous is not None and previous.model_id.lower() == str(fields["model_id"]).lower() else None,
        )

    def _configuration_carrying(self, entry: Mapping[str, Any], live: Mapping[str, Mapping[str, Any] | None]) -> dict[str, Any] | None:
        """The configuration an entry's payload hash names: as recorded in state, else as live now."""
        address, model_id = str(entry.get("address")), str(entry.get("model_id", "")).lower()
        candidates = [
            self.state.resources[address].configuration if self.state is not None and address in self.state.resources else None,
            live.get(model_id),
        ]
        for configuration in candidates:
            if configuration is not None and payload_hash(to_payload(configuration)) == entry.get("payload_hash"):
                return to_payload(configuration)
        return None


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
    outcomes = []
    for entry in unsettled_operations(entries):
        configuration = live.get(str(entry.get("model_id", "")).lower())
        went_through = configuration is not None and payload_hash(to_payload(configuration)) == entry.get("payload_hash")
        fields = {key: entry[key] for key in ("operation_id", "address", "model_id", "action", "payload_hash", "compliance_mode", "plan_checksum", "safety") if key in entry}
        fields.update(environment=environment, status=SUCCESS if went_through else FAILURE, latency_ms=0, resolved=SETTLED)
        if went_through and configuration is not None and configuration.get("version") is not None:
            fields["version"] = configuration["version"]
        if not went_through:
            fields.update(error_code="interrupted", error_message="the apply was interrupted before this request's outcome was recorded; the live configuration does not carry it")
        outcomes.append(fields)
    return outcomes


def refuse_or_warn(records: Records, environment: str, trust: str) -> list[str]:
    """The state's problems with its audit trail: StateError for ``refuse``, the list for ``warn``."""
    problems = state_problems(records)
    for problem in problems if trust != "refuse" else ():
        log.warning("%s", problem)
    if problems and trust == "refuse":
        raise StateError(
            "; ".join(problems),
            hint=f"if the live gateway is right, `llmplan refresh --env {environment}` records it afresh; "
            "if the state is, put back state.json.backup (or the database's backup); nothing was changed",
        )
    return problems

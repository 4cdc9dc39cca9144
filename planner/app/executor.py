"""Executing a plan: concurrent atomic PUTs, each outcome recorded at once.

For every change, in this order, each step durable before the next:
  1. an audit entry ``pending`` (the intent, written before the request),
  2. the PUT carrying the version the plan was computed against (``0`` for a
     first configuration), its outcome known for certain: a lost answer is
     resolved by reading the configuration back
     (:meth:`~planner.adapters.gateway.client.GatewayClient.apply_configuration`),
  3. one unit of work: on success state, audit outcome and governance event;
     on failure the audit outcome and a ``failed`` governance event.
Each of ``parallelism`` lanes takes one change after another, and writes the
outcome (3) of the change it just sent together with the intent (1) of the
next one it takes: one durable write per change on a lane's path instead of
two, in the same order, and an outcome is reported only once it is durable.
A crash between 1 and 3 leaves a ``pending`` entry without an outcome; the
next run's :meth:`~planner.app.session.RecordsSession.settle` closes it
by looking at the live configuration, so no update is ever applied without
an audit entry.  So does an outcome that stays unknown (the answer was lost
and the gateway could not be read back): no entry is guessed for it.
The only module that runs PUTs; it renders nothing.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from planner.adapters.gateway.client import GatewayClient
from planner.adapters.governance import Courier, build_event
from planner.adapters.metrics import ApplyMetrics
from planner.adapters.records.interfaces import Change
from planner.adapters.waiting import INTERRUPT_GRACE_SECONDS
from planner.app.applied import raise_if_applied_before as raise_if_applied_before  # apply imports it from here
from planner.app.hooks import ApplyHooks
from planner.app.session import RecordsSession
from planner.core.diff import to_payload
from planner.core.plan_file import to_document
from planner.core.safety import audit_fields
from planner.model.audit import FAILURE, FORGET_ACTION, MOVE_ACTION, PENDING, READ_BACK, SUCCESS, UPDATE_ACTION, recorded_without_request
from planner.model.clock import utc_now
from planner.model.configuration import Capabilities, payload_hash
from planner.model.errors import Cancelled, GatewayError, LockLost, OutcomeUnknown, StateError, TerminationRequested, VersionConflict
from planner.model.outcome import MOVE, SKIPPED, UNKNOWN, Outcome
from planner.model.plan import CREATE, FORGET, WRITE_ACTIONS, Plan, ResourceChange
from planner.model.safety import Approval
from planner.model.state import ResourceState


@dataclass(frozen=True)
class Recorder:
    """Where outcomes go: the records session (state, audit, outbox), governance delivery, metrics."""

    session: RecordsSession
    metrics: ApplyMetrics
    courier: Courier | None = None
    clock: Callable[[], str] = utc_now

    @property
    def environment(self) -> str:
        return self.session.environment

    def event_for(self, configuration: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], dict[str, Any]] | None:
        """The governance event of a success entry, if a webhook is configured."""
        if self.courier is None:
            return None
        return lambda entry: build_event(entry, configuration)


@dataclass(frozen=True)
class _Sent:
    """A change a lane has sent: the unit of work recording its outcome (None: nothing to record, its pending
    entry stays open), the outcome reported once that unit is durable, and the one if the records refuse it."""

    unit: Change | None
    outcome: Outcome
    unrecorded: Callable[[str], Outcome] | None = None  # given the refusal's code

    def refused(self, failure: StateError) -> Outcome:
        return self.unrecorded(_refusal(failure)) if self.unrecorded is not None else self.outcome


def plan_checksum(plan: Plan) -> str:
    """The checksum the plan has (or would have) as a saved file."""
    return str(to_document(plan)["llmplan"]["checksum"])


def resource_state(change: ResourceChange, applied: Mapping[str, Any], capabilities: Capabilities | None, applied_at: str, *, source_commit: str | None = None) -> ResourceState:
    """What state keeps of a model: the configuration the gateway answered with (and the commit its plan came from)."""
    configuration = to_payload(applied)
    return ResourceState(
        address=change.address,
        model_id=change.model_id,
        configuration=configuration,
        version=int(applied["version"]),
        payload_hash=payload_hash(configuration),
        applied_at=applied_at,
        capabilities=capabilities.to_api() if capabilities is not None else None,
        source_commit=source_commit,
    )


class Executor:
    """Runs the write changes of a plan with bounded concurrency.

    Stopping (Ctrl-C, ``fail_fast``, a lost lock or records that refuse a
    write) stops *scheduling*: requests in flight finish and are recorded
    where the records still take them, so nothing is left half-known.  After an
    interrupt they get :data:`~planner.adapters.waiting.INTERRUPT_GRACE_SECONDS` to
    do so; then the gateway client and the governance notifier are
    cancelled, and a PUT cut off keeps its ``pending`` entry (outcome
    unknown) for the next run to settle.
    """

    def __init__(
        self,
        plan: Plan,
        client: GatewayClient,
        recorder: Recorder,
        *,
        capabilities: Mapping[str, Capabilities],
        parallelism: int,
        fail_fast: bool = False,
        hooks: ApplyHooks,
        monotonic: Callable[[], float] = time.monotonic,
        approval: Approval | None = None,
    ) -> None:
        self.plan = plan
        self.client = client
        self.recorder = recorder
        self.capabilities = capabilities
        self.parallelism = parallelism
        self.fail_fast = fail_fast
        self.hooks = hooks
        self.monotonic = monotonic
        self.approval = approval  # who allowed the plan's weakenings, for their audit entries
        self.stop = threading.Event()
        self.interrupted: KeyboardInterrupt | None = None
        self.records_failure: StateError | None = None  # a write the records refused: raised once the workers are done
        self._metrics_lock = threading.Lock()
        self._take_lock = threading.Lock()
        self._pending: deque[ResourceChange] = deque()  # write changes not yet taken by a lane
        # A plan applied without a file was still shown and approved: its checksum ties the audit entries to it.
        self._plan_checksum = plan.checksum or plan_checksum(plan)

    def _fields(self, change: ResourceChange, status: str, operation_id: str, *, latency_ms: float = 0.0, error: GatewayError | None = None, version: int | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "operation_id": operation_id,
            "environment": self.recorder.environment,
            "address": change.address,
            "model_id": change.model_id,
            "action": UPDATE_ACTION,
            "status": status,
            "latency_ms": round(latency_ms, 3),
            "payload_hash": payload_hash(change.after),
            "compliance_mode": (change.after or {}).get("compliance_mode"),
            "plan_checksum": self._plan_checksum,
            **audit_fields(change.classification, self.approval),
        }
        if status != PENDING:  # the outcome says what changed, field by field (a report's per-model history)
            fields["changes"] = [field.to_dict() for field in change.changes]
        if version is not None:
            fields["version"] = version
        if error is not None:
            fields["error_code"] = error.code or (str(error.status) if error.status else type(error).__name__)
            fields["error_message"] = error.message
        return fields

    def _observe(self, change: ResourceChange, success: bool, latency: float) -> None:
        with self._metrics_lock:
            self.recorder.metrics.observe(success, latency, create=change.action == CREATE)

    def _records_failed(self, failure: StateError) -> None:
        """The records refused a write (the lock was lost, the disk is full): nothing more is sent."""
        with self._metrics_lock:
            self.records_failure = self.records_failure or failure
        self.stop.set()

    def _send(self, change: ResourceChange, operation_id: str) -> "_Sent":
        """The PUT of a change whose intent is durable; the unit of work recording its outcome, not yet written."""
        started = self.monotonic()
        # the version the plan was computed against; 0 guards a first configuration the same way
        guard = change.live_version if change.live_version is not None else 0
        try:
            applied = self.client.apply_configuration(change.model_id, change.after or {}, expected_version=guard)
        except (OutcomeUnknown, Cancelled) as error:
            # neither success nor failure (a cancelled PUT may have landed): the pending entry stays open for the next run to settle
            latency = (self.monotonic() - started) * 1000
            self._observe(change, False, latency)
            return _Sent(None, Outcome(change.address, change.model_id, change.action, UNKNOWN, latency, None, "outcome.unknown", error.message))
        except GatewayError as error:
            latency = (self.monotonic() - started) * 1000
            if isinstance(error, VersionConflict):
                planned = f"planned against version {change.live_version}" if change.live_version is not None else "planned as its first configuration (version 0)"
                error = VersionConflict(
                    f"{change.address} changed on the gateway since the plan was made ({planned}); not applied",
                    status=error.status,
                    code=error.code or "conflict",
                    context_id=error.context_id,
                )
            fields = self._fields(change, FAILURE, operation_id, latency_ms=latency, error=error)
            self._observe(change, False, latency)
            failed = Outcome(change.address, change.model_id, change.action, FAILURE, latency, None, error.code, error.message)
            # refused by the records, its pending entry stays open: the next apply settles it as not applied
            message = error.message
            unrecorded = lambda code: replace(failed, error_message=f"{message} (not recorded: {code.replace('_', ' ')})")  # noqa: E731
            return _Sent(Change(fields, event_for=self.recorder.event_for(change.after or {})), failed, unrecorded)
        latency = (self.monotonic() - started) * 1000
        resource = resource_state(change, applied.configuration, self.capabilities.get(change.model_id), self.recorder.clock(), source_commit=self.plan.source_commit)
        fields = self._fields(change, SUCCESS, operation_id, latency_ms=latency, version=resource.version)
        if applied.read_back:
            fields["resolved"] = READ_BACK
        self._observe(change, True, latency)
        # landed, yet unknown to the records if they refuse it: its pending entry leads the next apply to it
        message = f"applied (version {resource.version}), not recorded; the next apply reads it back and records it"
        succeeded = Outcome(change.address, change.model_id, change.action, SUCCESS, latency, resource.version)
        unknown = lambda code: replace(succeeded, status=UNKNOWN, error_code=code, error_message=message)  # noqa: E731
        return _Sent(Change(fields, resource=resource, event_for=self.recorder.event_for(resource.configuration)), succeeded, unknown)

    def _take(self) -> ResourceChange | None:
        """The next change to send, or None: none left, or scheduling stopped (Ctrl-C, ``fail_fast``, a lost lock)."""
        with self._take_lock:
            if self.stop.is_set() or not self._pending:
                return None
            if self.recorder.session.lost is not None:  # the watchdog saw the lock go: send nothing more
                self._records_failed(LockLost(self.recorder.session.lost))
                return None
            return self._pending.popleft()

    def _lane(self, report: Callable[[Outcome | None], None]) -> None:
        """Send changes one after another; each write holds the outcome of the change just sent and
        the intent of the next. Every outcome goes to ``report``, then None once the lane has ended."""
        try:
            self._run_lane(report)
        finally:
            report(None)

    def _run_lane(self, report: Callable[[Outcome | None], None]) -> None:
        session = self.recorder.session
        sent: _Sent | None = None
        change = self._take()
        while change is not None or sent is not None:
            units = [sent.unit] if sent is not None and sent.unit is not None else []
            operation_id = str(uuid.uuid4()) if change is not None else ""
            if change is not None:
                units.append(Change(audit_fields=self._fields(change, PENDING, operation_id)))
            try:
                recorded = session.record(units) if units else []
            except StateError as failure:  # nothing of the write is recorded: the change just sent is not, the next is not sent
                self._records_failed(failure)
                if sent is not None:
                    report(sent.refused(failure))
                if change is not None:
                    report(Outcome(change.address, change.model_id, change.action, SKIPPED, error_code=_refusal(failure), error_message="not sent"))
                return
            if sent is not None:
                if sent.unit is not None:
                    self._deliver(recorded[0].event)
                report(sent.outcome)
            if change is None:
                return
            sent = self._send(change, operation_id)
            if self.fail_fast and sent.outcome.status in (FAILURE, UNKNOWN):
                self.stop.set()
            change = self._take()

    def _deliver(self, event: dict[str, Any] | None) -> None:
        """Hand an event already durable in the outbox to the courier's thread: no PUT worker waits for a receiver."""
        if event is not None and self.recorder.courier is not None:
            self.recorder.courier.submit(event)

    def _forget(self, change: ResourceChange) -> Outcome:
        fields = {
            "operation_id": str(uuid.uuid4()),
            "environment": self.recorder.environment,
            "address": change.address,
            "model_id": change.model_id,
            "action": FORGET_ACTION,
            "status": SUCCESS,
            "latency_ms": 0,
            "payload_hash": payload_hash(change.before),
            "compliance_mode": (change.before or {}).get("compliance_mode"),
            "plan_checksum": self._plan_checksum,
        }
        self.recorder.session.record_one(Change(fields, forget=change.address))
        return Outcome(change.address, change.model_id, FORGET, SUCCESS)

    def _move(self, change: ResourceChange) -> Outcome:
        """A renamed model file: its record moves to the new address (no request);
        a configuration change, if any, is PUT afterwards like any other."""
        assert change.previous_address is not None
        state = self.recorder.session.state
        previous = state.resources.get(change.previous_address) if state is not None else None
        if previous is None or previous.model_id.lower() != change.model_id:
            message = f"state holds no record of {change.model_id} at {change.previous_address}; plan again"
            return Outcome(change.address, change.model_id, MOVE, FAILURE, error_code="not_in_state", error_message=message, previous_address=change.previous_address)
        resource = replace(previous, address=change.address)
        fields = {
            **recorded_without_request(self.recorder.environment, MOVE_ACTION, resource),
            "model_id": change.model_id,  # as the plan spells it
            "previous_address": change.previous_address,
            "plan_checksum": self._plan_checksum,
        }
        self.recorder.session.record_one(Change(fields, resource=resource, forget=change.previous_address))
        return Outcome(change.address, change.model_id, MOVE, SUCCESS, version=resource.version, previous_address=change.previous_address)

    def run(self) -> list[Outcome]:
        """Apply every actionable change; returns outcomes in address order
        (a moved model that is also updated has two: the move, then the PUT).

        Ctrl-C or SIGTERM (a KeyboardInterrupt in this, the main thread)
        stops scheduling; the requests in flight get a short grace to finish
        and be recorded, then are cut off (outcome unknown), the rest are
        ``skipped``, and the interrupt is kept in :attr:`interrupted` for the
        caller to re-raise once the records are committed. The interrupt may
        land between any two statements here, so each PUT's outcome is kept
        by the thread that made it, and the result is read from those once
        the pool has finished every request it started.
        """
        outcomes: list[Outcome] = []
        for change in self.plan.actionable:
            if change.action == FORGET or change.moved:
                outcome = self._forget(change) if change.action == FORGET else self._move(change)
                outcomes.append(outcome)
                self.hooks.outcome(outcome)
        self._pending = deque(change for change in self.plan.actionable if change.action in WRITE_ACTIONS)
        finished: list[Outcome] = []  # every PUT's outcome, appended by the lane that made it
        shown: set[int] = set()  # the outcomes already passed to hooks.outcome
        reports: queue.Queue[Outcome | None] = queue.Queue()  # each outcome as it comes, for the progress shown; None: a lane has ended

        def report(outcome: Outcome | None) -> None:
            if outcome is not None:
                finished.append(outcome)
            reports.put(outcome)

        def show(outcome: Outcome) -> None:
            if id(outcome) not in shown:
                shown.add(id(outcome))
                self.hooks.outcome(outcome)

        lanes: list[Future[None]] = []
        with ThreadPoolExecutor(max_workers=max(1, min(self.parallelism, len(self._pending))), thread_name_prefix="llmplan-apply") as pool:
            try:
                for _ in range(min(self.parallelism, len(self._pending))):
                    lanes.append(pool.submit(self._lane, report))
                ended = 0
                while ended < len(lanes):
                    reported = reports.get()
                    if reported is None:
                        ended += 1
                    else:
                        show(reported)
            except KeyboardInterrupt as interrupt:
                # stop scheduling; the requests in flight get a short grace to finish and be recorded:
                # a gateway or receiver that trickles must not hold a cancelled CI job
                self.stop.set()
                self.interrupted = interrupt
                _, late = wait(lanes, timeout=INTERRUPT_GRACE_SECONDS)
                if late:
                    reason = f"apply was interrupted ({'SIGTERM' if isinstance(interrupt, TerminationRequested) else 'Ctrl-C'})"
                    self.client.cancel(reason)
                    if self.recorder.courier is not None:
                        self.recorder.courier.cancel(reason)
        for outcome in finished:  # the pool has finished every lane: nothing is added any more
            show(outcome)
        outcomes.extend(finished)
        outcomes.extend(Outcome(change.address, change.model_id, change.action, SKIPPED) for change in self._pending)
        for ended_lane in lanes:
            ended_lane.result()  # a lane's bug is raised, not lost
        return sorted(outcomes, key=lambda outcome: outcome.address)

    def raise_if_records_failed(self) -> None:
        """The records' refusal that stopped the run (LockLost names who holds the lock now), after every outcome was reported."""
        if self.records_failure is not None:
            raise self.records_failure


def _refusal(failure: StateError) -> str:
    """The records' refusal as an outcome's error code; the error after the outcomes says it whole."""
    return "lock_lost" if isinstance(failure, LockLost) else "records_refused"

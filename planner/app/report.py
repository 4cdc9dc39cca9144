"""``llmplan report``: every environment's status, gathered from its records and the live gateway.

For each environment: its YAML (models managed, the safety rules that rank
settings), its records (state, lock holder, the audit trail checked from its
last checkpoint and against the state, and the trail's entries of the last N
days read with :meth:`~planner.adapters.records.interfaces.AuditReader.entries_since`),
and the live gateway read with the drift code — or, ``offline``, the last
drift result ``llmplan drift`` remembered. What cannot be read becomes an
error of that environment, shown in the report; the others are still read.

The cost depends on the models and the window, never on the length of
history: nothing reads the trail before the window, and the chain is
checked from its checkpoint (``llmplan audit verify`` checks all of it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from planner import __version__
from planner.adapters.gateway.live import fetch_all
from planner.adapters.outputs import write_site
from planner.adapters.records.interfaces import DriftMemory, Records, StateSnapshot
from planner.adapters.records.vouching import COMMIT_ACTION, state_problems
from planner.app.connections import gateway_client, records_of
from planner.app.drift import remember_drift
from planner.app.environments import collector_paused, load_environment
from planner.core.diff import to_payload
from planner.core.drift import detect_drift
from planner.model.clock import utc_now
from planner.model.configuration import FILTER_TYPES
from planner.model.errors import LlmplanError, ValidationFailed
from planner.model.report import (
    APPLIED,
    COMPLIANCE,
    DEFAULT_DAYS,
    DESIRED,
    DRIFT_FOUND,
    FAILED,
    LIVE,
    REPAIR,
    STATE,
    STATE_EDIT,
    WEAKENING_ALLOWED,
    AuditStatus,
    DriftSummary,
    EnvironmentStatus,
    FieldDiff,
    HistoryEvent,
    LastApply,
    LockStatus,
    ModelEntry,
    ModelPosture,
    Report,
    SafetyNote,
    Setting,
    day_counts,
    level_of,
)
from planner.model.safety import SafetyRules, default_rules
from planner.model.settings import Environment
from planner.model.state import State

APPLY_ACTIONS = ("configuration_update", "state_forget", "state_move")  # what an apply writes


def window(now: str, days: int) -> tuple[str, tuple[str, ...]]:
    """The window's first instant (midnight UTC, ``days`` days ago counting today) and its days."""
    today = datetime.fromisoformat(now.replace("Z", "+00:00")).date()
    first = today - timedelta(days=days - 1)
    return f"{first.isoformat()}T00:00:00.000Z", tuple((first + timedelta(days=offset)).isoformat() for offset in range(days))


def gather(
    root: Path,
    names: Sequence[str],
    *,
    offline: bool = False,
    days: int = DEFAULT_DAYS,
    environ: Mapping[str, str] | None = None,
    gateway_timeout: float | None = None,
    now: str | None = None,
) -> Report:
    """The report of ``names``, problems first."""
    now = now or utc_now()
    since, day_list = window(now, days)
    with collector_paused():  # many small objects, no cycles: a fifth of the time otherwise
        statuses = [
            _environment(root, name, offline=offline, since=since, days=day_list, environ=environ, gateway_timeout=gateway_timeout)
            for name in names
        ]
    statuses.sort(key=lambda status: (-status.severity, status.name))
    columns = (*FILTER_TYPES, *sorted({s.column for e in statuses for p in e.posture for s in p.settings} - {*FILTER_TYPES, COMPLIANCE}), COMPLIANCE)
    return Report(now, __version__, days, since, offline, tuple(statuses), columns, _models(statuses))


# --- one environment ----------------------------------------------------------


@dataclass
class _Reading:
    """What has been read of one environment so far, and what could not be."""

    name: str
    errors: list[str]
    notes: list[str]
    environment: Environment | None = None
    state: State | None = None


def _environment(
    root: Path,
    name: str,
    *,
    offline: bool,
    since: str,
    days: tuple[str, ...],
    environ: Mapping[str, str] | None,
    gateway_timeout: float | None,
) -> EnvironmentStatus:
    reading = _Reading(name, [], [])
    try:
        reading.environment = load_environment(root, name)
    except ValidationFailed as failed:
        shown = "; ".join(str(problem) for problem in failed.problems[:3])
        more = f" and {len(failed.problems) - 3} more" if len(failed.problems) > 3 else ""
        reading.errors.append(f"the YAML is not valid ({shown}{more}); run `llmplan validate --env {name}`")
    except LlmplanError as error:
        reading.errors.append(error.message)
    rules = reading.environment.safety if reading.environment is not None else default_rules()
    models = len(reading.environment.models) if reading.environment is not None else None
    try:
        records = records_of(root, name, environ)
    except LlmplanError as error:
        reading.errors.append(f"the records cannot be read: {error.message}")
        return EnvironmentStatus(name, "", models, None, None, None, None, (), "", (), day_counts((), days), tuple(reading.errors))
    try:
        return _from_records(reading, records, rules, models, offline=offline, since=since, days=days, environ=environ, gateway_timeout=gateway_timeout)
    finally:
        records.close()


def _from_records(
    reading: _Reading,
    records: Records,
    rules: SafetyRules,
    models: int | None,
    *,
    offline: bool,
    since: str,
    days: tuple[str, ...],
    environ: Mapping[str, str] | None,
    gateway_timeout: float | None,
) -> EnvironmentStatus:
    errors, notes = reading.errors, reading.notes
    snapshot = None
    try:
        snapshot = records.state.read()
        reading.state = snapshot.state
    except LlmplanError as error:
        errors.append(f"the state cannot be read: {error.message}")
    lock = None
    try:
        holder = records.locker.holder()
        lock = LockStatus(holder.operation, holder.who, holder.created, holder.ci_run) if holder is not None else None
    except LlmplanError as error:
        errors.append(f"the lock cannot be read: {error.message}")
    audit = _audit_status(records, snapshot, errors)
    events, last_apply = _history(records, since, errors)
    remembered = _last_drift(records, errors)
    drift, live = remembered, None
    if not offline and reading.environment is not None:
        checked = _live_drift(reading, environ, gateway_timeout)
        if checked is not None:
            drift, live = checked
    elif not offline:
        notes.append("the live gateway was not read: the YAML could not be read")
    if offline and remembered is None:
        notes.append(f"no drift check remembered yet: run `llmplan drift --env {reading.name}` (or the report without --offline)")
    for result in (remembered, drift if drift is not remembered else None):
        if result is not None and result.checked_at >= since:
            events.extend(_drift_events(result))
    events.sort(key=lambda event: event.at)
    if reading.state is not None and reading.state.resources:
        newest = max(reading.state.resources.values(), key=lambda resource: resource.applied_at)
        if last_apply is None:
            last_apply = LastApply(newest.applied_at)
        if last_apply.commit is None and newest.source_commit:  # the commit the last applied plan was made from
            last_apply = replace(last_apply, commit=newest.source_commit)
    posture, source = _postures(reading, live, rules, drift)
    return EnvironmentStatus(
        name=reading.name,
        records=records.name,
        models_managed=models,
        last_apply=last_apply,
        drift=drift,
        lock=lock,
        audit=audit,
        posture=posture,
        posture_source=source,
        events=tuple(events),
        days=day_counts(events, days),
        errors=tuple(errors),
        notes=tuple(notes),
    )


def _audit_status(records: Records, snapshot: StateSnapshot | None, errors: list[str]) -> AuditStatus | None:
    """The chain from its checkpoint on, and the state it vouches for: what every command checks."""
    try:
        checked = records.audit.verify_recent()
        problems = state_problems(snapshot, records.audit, environment=records.environment, where=records.name) if checked.ok and snapshot is not None else []
    except LlmplanError as error:
        errors.append(f"the audit trail cannot be read: {error.message}")
        return None
    if not checked.ok:
        return AuditStatus(False, checked.entries, checked.problem)
    if problems:
        return AuditStatus(False, checked.entries, "; ".join(problems))
    return AuditStatus(True, checked.entries)


def _history(records: Records, since: str, errors: list[str]) -> tuple[list[HistoryEvent], LastApply | None]:
    """The window's events, and the last apply it holds (grouped by the plan it came from)."""
    events: list[HistoryEvent] = []
    applies: dict[str, list[Any]] = {}  # plan checksum → [succeeded, failed, allowed by]
    last: tuple[str, str] | None = None  # (time, plan checksum) of the latest apply outcome
    try:
        for entry in records.audit.entries_since(since):
            event = _event(entry)
            if event is None:
                continue
            events.append(event)
            if event.action in APPLY_ACTIONS:
                checksum = str(entry.get("plan_checksum") or f"at {event.at}")
                tally = applies.setdefault(checksum, [0, 0, None])
                tally[1 if event.kind == FAILED else 0] += 1
                tally[2] = tally[2] or event.by
                last = (event.at, checksum)
    except LlmplanError as error:
        errors.append(f"the audit trail cannot be read: {error.message}")
    if last is None:
        return events, None
    at, checksum = last
    succeeded, failed, by = applies[checksum]
    plan = checksum if checksum.startswith("sha256:") else None
    return events, LastApply(at, by=by, plan_checksum=plan, succeeded=succeeded, failed=failed, detailed=True)


def _event(entry: Mapping[str, Any]) -> HistoryEvent | None:
    """An audit entry as the history shows it; None for what it does not (intents, state commits)."""
    action, status = str(entry.get("action", "")), str(entry.get("status", ""))
    if status == "pending" or action == COMMIT_ACTION:
        return None
    safety = entry.get("safety") if isinstance(entry.get("safety"), Mapping) else {}
    assert isinstance(safety, Mapping)
    classification = safety.get("classification")
    if action == "configuration_update":
        kind = FAILED if status == "failure" else WEAKENING_ALLOWED if classification == "weakens" else APPLIED
    else:
        kind = REPAIR if action == "audit_repair" else STATE_EDIT
    changes = entry.get("changes")
    error = f"{entry.get('error_code')}: {entry.get('error_message')}" if status == "failure" else None
    version = entry.get("version")
    return HistoryEvent(
        at=str(entry.get("timestamp", "")),
        kind=kind,
        action=action,
        status=status,
        address=_text(entry.get("address")),
        model_id=_text(entry.get("model_id")),
        audit_id=_text(entry.get("audit_id")),
        classification=_text(classification),
        by=_text(safety.get("allowed_by")),
        via=_text(safety.get("allowed_via")),
        changes=tuple(FieldDiff.from_dict(change) for change in changes if isinstance(change, Mapping)) if isinstance(changes, list) else None,
        notes=tuple(SafetyNote.from_dict(reason) for reason in safety.get("reasons") or () if isinstance(reason, Mapping)),
        error=error,
        version=version if isinstance(version, int) else None,
        previous_address=_text(entry.get("previous_address")),
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _last_drift(records: Records, errors: list[str]) -> DriftSummary | None:
    if not isinstance(records, DriftMemory):
        return None
    try:
        result = records.last_drift()
    except LlmplanError as error:
        errors.append(f"the last drift result cannot be read: {error.message}")
        return None
    return DriftSummary.from_result(result, live=False) if result is not None else None


def _live_drift(reading: _Reading, environ: Mapping[str, str] | None, gateway_timeout: float | None) -> tuple[DriftSummary, Mapping[str, Any]] | None:
    """Drift read live now (and remembered, as ``llmplan drift`` does), with every live configuration."""
    environment = reading.environment
    assert environment is not None
    try:
        with gateway_client(environment, parallelism=environment.apply.parallelism, environ=environ, timeout=gateway_timeout) as client:
            snapshot = fetch_all(client)
    except LlmplanError as error:
        reading.errors.append(f"the gateway could not be read ({error.message}); the last drift result is shown instead")
        return None
    report = detect_drift(environment, snapshot.configurations, snapshot.names, reading.state, created_at=utc_now(), tool_version=__version__)
    remember_drift(environment, report, environ)
    return DriftSummary.from_result(report.remembered(), live=True), snapshot.configurations


def _drift_events(drift: DriftSummary) -> Iterator[HistoryEvent]:
    for item in drift.items:
        yield HistoryEvent(
            at=drift.checked_at,
            kind=DRIFT_FOUND,
            action="drift",
            status=item.kind,
            address=item.address,
            model_id=item.model_id,
            classification="weakens" if item.weakenings else None,
            changes=item.changes,
            notes=item.weakenings,
        )


# --- safety posture -------------------------------------------------------------


def _postures(reading: _Reading, live: Mapping[str, Any] | None, rules: SafetyRules, drift: DriftSummary | None) -> tuple[tuple[ModelPosture, ...], str]:
    """Each model's safety settings: live when the gateway was read, else as last applied (state),
    else as the YAML wants them (never applied)."""
    drifted = {item.address: item for item in drift.items} if drift is not None else {}
    found: dict[str, ModelPosture] = {}
    recorded = reading.state.resources if reading.state is not None else {}
    if live is not None and reading.environment is not None:
        for model in reading.environment.models:
            configuration = live.get(model.model_id.lower())
            found[model.address] = _posture(model.address, model.model_id, configuration, rules, LIVE)
        source = "live, read at report time"
    else:
        for address, resource in recorded.items():
            found[address] = _posture(address, resource.model_id, resource.configuration, rules, STATE)
        for model in reading.environment.models if reading.environment is not None else ():
            if model.address not in found:
                found[model.address] = _posture(model.address, model.model_id, model.config, rules, DESIRED)
        source = "as last applied by llmplan (the state); the live gateway was not read"
    postures = []
    for address in sorted(found):
        posture = found[address]
        item = drifted.get(address)
        if item is not None:
            posture = ModelPosture(posture.address, posture.model_id, posture.settings, posture.source, posture.configured, item.kind, bool(item.weakenings))
        postures.append(posture)
    return tuple(postures), source


def _posture(address: str, model_id: str, configuration: Mapping[str, Any] | None, rules: SafetyRules, source: str) -> ModelPosture:
    if configuration is None:
        return ModelPosture(address, model_id, (), source, configured=False)
    payload = to_payload(configuration)
    settings = []
    for item in payload.get("safety_filters") or ():
        if isinstance(item, Mapping) and isinstance(item.get("filter_type"), str):
            action = item.get("action")
            settings.append(Setting(item["filter_type"], _text(action), item.get("threshold"), level_of(_text(action), rules.filter_action)))
    mode = _text(payload.get("compliance_mode"))
    settings.append(Setting(COMPLIANCE, mode, None, level_of(mode, rules.compliance_mode)))
    return ModelPosture(address, model_id, tuple(sorted(settings, key=lambda setting: setting.column)), source)


def _models(statuses: Iterable[EnvironmentStatus]) -> tuple[ModelEntry, ...]:
    """Every model address across environments, with its posture and history in each."""
    postures: dict[str, list[tuple[str, ModelPosture]]] = {}
    events: dict[str, list[tuple[str, HistoryEvent]]] = {}
    for status in statuses:
        for posture in status.posture:
            postures.setdefault(posture.address, []).append((status.name, posture))
        for event in status.events:
            if event.address is not None:
                events.setdefault(event.address, []).append((status.name, event))
    return tuple(
        ModelEntry(address, tuple(postures.get(address, ())), tuple(sorted(events.get(address, ()), key=lambda pair: pair[1].at)))
        for address in sorted({*postures, *events})
    )


def write_report(out: Path, files: Iterable[tuple[str, str]]) -> int:
    """The rendered site written to ``out``: rendering (lazy, as files are asked for) makes many small objects and no cycles."""
    with collector_paused():
        return write_site(out, files)

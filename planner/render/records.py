"""Listings of records and outcomes: state, audit entries, imports, refreshes, an apply's report.

Pure: each function takes plain data and returns lines or writes to a stream;
the CLI decides where they go.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, TextIO

from planner.adapters.metrics import MetricsSummary
from planner.adapters.records.interfaces import AuditReport, RepairResult
from planner.app.apply import ApplyResult
from planner.app.importing import ImportResult
from planner.app.migrate import MigrationResult
from planner.app.records import StateView
from planner.app.refresh import RecordedModel
from planner.model.errors import LlmplanError
from planner.model.outcome import Outcome
from planner.model.printable import printable
from planner.model.settings import display_path
from planner.render.common import value_text


def outcome_line(outcome: Outcome) -> str:
    """One model's outcome, for a CI log; what an error says on lines of its own (a missing scope) stays on lines of its own."""
    first, *more = outcome.error_message.splitlines() if outcome.error_message else [""]
    detail = f" ({outcome.error_code or 'error'}: {first.rstrip(':') if more else first})" if first else ""
    moved = f" (from {outcome.previous_address})" if outcome.previous_address is not None else ""
    version = f" → version {outcome.version}" if outcome.version is not None and outcome.action != "move" else ""
    return "\n".join([f"  {outcome.status:8} {outcome.action} {outcome.address}{moved}{version}{detail}", *(f"      {line.strip()}" for line in more)])


@dataclass(frozen=True)
class ApplyReport:
    """What apply tells its user: notes for stderr, the result for stdout."""

    notes: tuple[str, ...]
    lines: tuple[str, ...]


def apply_report(result: ApplyResult) -> ApplyReport:
    notes = []
    if result.repair_note:
        notes.append(f"Note: {result.repair_note}")
    for entry in result.reconciled:
        notes.append(f"Note: an interrupted earlier apply was settled for {entry.get('address')}: {entry['status']}")
    notes.extend(f"Warning: {warning}" for warning in result.warnings)
    if result.announced:
        notes.append(f"Note: queued the governance event(s) an interrupted earlier apply had not sent: {', '.join(result.announced)}")
    if not result.plan.has_changes:
        recorded = f" Recorded {result.refreshed} live configuration(s) in state." if result.refreshed else ""
        return ApplyReport(tuple(notes), (f"No changes. Nothing to apply.{recorded}",))
    succeeded = [outcome for outcome in result.succeeded if outcome.action != "move"]
    moved = len(result.succeeded) - len(succeeded)
    also = f"; {moved} moved to a new address" if moved else ""
    unknown = f", {len(result.unknown)} outcome(s) unknown" if result.unknown else ""
    counts = f"{len(succeeded)} succeeded, {len(result.failures)} failed{unknown}, {len(result.skipped)} not attempted{also}"
    lines = [f"\nApply interrupted: {counts}." if result.interrupted is not None else f"\nApply complete: {counts}."]
    if result.interrupted is not None or result.failures or result.unknown or result.skipped:
        if result.succeeded:
            lines.append(f"Partly applied: {len(result.succeeded)} of {len(result.outcomes)} changes are applied and recorded. To finish the job: {result.finish_command}.")
        else:
            lines.append(f"Nothing was applied. Once the cause is fixed: {result.finish_command}.")
    if result.summary is not None and result.summary.updates:
        lines.append(metrics_text(result.summary))
    if result.undelivered:
        notes.append(
            f"Governance: {result.undelivered} event(s) not delivered yet, kept in the outbox; "
            f"run `llmplan governance flush --env {result.plan.environment}`."
        )
    return ApplyReport(tuple(notes), tuple(lines))


def refresh_listing(recorded: Iterable[RecordedModel]) -> list[str]:
    lines = [f"  recorded {item.address} (version {item.version})" for item in recorded]
    lines.append(f"Refresh complete: {len(lines)} model(s) recorded in state." if lines else "State already matches the live configuration.")
    return lines


def refresh_warnings(recorded: Iterable[RecordedModel], environment: str) -> list[str]:
    """A warning per accepted live configuration that is not the YAML: the next plan would undo it."""
    lines = []
    for item in recorded:
        if not item.differs:
            continue
        fields = "; ".join(f"{change.path}: {value_text(change.before) if change.before is not None else '(none)'} → {value_text(change.after) if change.after is not None else '(none)'}" for change in item.differs)
        lines.append(
            f"Warning: {item.address}: the live configuration recorded in state differs from the YAML (live → YAML: {fields}); "
            f"the next `llmplan plan --env {environment}` changes it back unless you edit the YAML to match."
        )
    return lines


def import_listing(result: ImportResult, environment: str, root: Path, *, listing_only: bool) -> list[str]:
    if listing_only:
        if not result.candidates:
            return [f"Nothing to import: every configured model on the gateway is managed by environment {environment}."]
        lines = [f"{len(result.candidates)} configured model(s) on the gateway are in no YAML file of {environment}:"]
        lines += [f"  {candidate.model_id}  {candidate.name} (version {candidate.version})" for candidate in result.candidates]
        lines.append("Import them with --model-id ID (repeatable) or --all.")
        return lines
    lines = [
        f"  imported {item.name} ({item.model_id}) → {display_path(item.file, root) if item.file is not None else ''}"
        for item in result.imported
    ]
    lines.append(f"Import complete: {len(result.imported)} model(s) written and recorded in state." if result.imported else "Nothing to import.")
    return lines


def state_listing(view: StateView) -> list[str]:
    lines = []
    if view.state is None:
        lines.append(f"No state for environment {view.environment} yet (nothing applied).")
    else:
        state = view.state
        lines.append(f"environment {view.environment}: lineage {state.lineage}, serial {state.serial}, {len(state.resources)} model(s)")
        for address, resource in sorted(state.resources.items()):
            lines.append(f"  {address:30} {resource.model_id}  version {resource.version:<5} applied {resource.applied_at}")
    lines.append(f"locked: {view.lock.describe()}" if view.lock else "not locked")
    return lines


def render_audit_entries(entries: Iterable[Mapping[str, Any]], out: TextIO, output_format: str) -> None:
    """Entries oldest first; streamed, so a long trail is never held in memory."""
    if output_format == "json":
        out.write("[")
        first = True
        for entry in entries:
            text = json.dumps(entry, indent=2, ensure_ascii=False).replace("\n", "\n  ")
            out.write(("\n  " if first else ",\n  ") + text)
            first = False
        out.write("]\n" if first else "\n]\n")
        return
    count = 0
    for entry in entries:
        count += 1
        error = f"  {entry.get('error_code') or 'error'}: {entry.get('error_message') or ''}" if entry.get("status") == "failure" else ""
        moved = f" (from {entry['previous_address']})" if entry.get("previous_address") else ""
        subject = f"serial {entry.get('serial')}" if entry.get("action") == "state_commit" else entry.get("address") or "-"
        out.write(printable(f"{entry.get('timestamp')}  {entry.get('action') or '-':20} {entry.get('status') or '-':8} {subject}{moved}{error}") + "\n")
    if not count:
        out.write("no audit entries\n")


def audit_verify_document(environment: str, report: AuditReport, repaired: RepairResult | None, broken: LlmplanError | None) -> str:
    """``audit verify --format json``: one document, whether the chain verifies or not."""
    document = {
        "environment": environment,
        "ok": report.ok,
        "entries": report.entries,
        "first_bad_line": report.first_bad_line,
        "problem": report.problem,
        "torn_tail": report.torn_tail,
        "repaired": {"torn_path": repaired.torn_path, "fragment_bytes": repaired.fragment_bytes, "fragment_sha256": repaired.fragment_sha256} if repaired is not None else None,
        "error": broken.message if broken is not None else None,
        "hint": broken.hint if broken is not None else None,
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def migration_listing(result: MigrationResult) -> list[str]:
    if result.nothing_to_do:
        return [f"Nothing to migrate: {result.target} already holds serial {result.serial} of lineage {result.lineage} and all {result.entries} audit entries."]
    aside = [f"  the target's records of another lineage were set aside in {result.discarded}"] if result.discarded else []
    return [
        f"Migrated from {result.source} to {result.target}:",
        *aside,
        f"  state: lineage {result.lineage}, serial {result.serial}" + (" (copied)" if result.state_copied else " (already there)"),
        f"  audit trail: {result.entries_copied} entr{'y' if result.entries_copied == 1 else 'ies'} copied, {result.entries} in all, chain verified",
        f"  governance outbox: {result.events_copied} waiting event(s) copied",
        f"The records in {result.source} are no longer used by this environment; keep them until you have checked the new backend.",
    ]


def metrics_text(summary: MetricsSummary) -> str:
    """One short block for the end of an apply."""
    if not summary.updates:
        return "metrics: no updates attempted"
    assert summary.success_rate is not None and summary.avg_latency_ms is not None and summary.p95_latency_ms is not None
    updates = summary.updates - summary.creates
    return (
        f"metrics: {summary.updates} request{'s' if summary.updates != 1 else ''} "
        f"({summary.creates} create{'s' if summary.creates != 1 else ''}, {updates} update{'s' if updates != 1 else ''}), "
        f"{summary.successes} succeeded, {summary.failures} failed "
        f"(success rate {summary.success_rate * 100:.1f} %)\n"
        f"latency: avg {summary.avg_latency_ms:.1f} ms, p95 {summary.p95_latency_ms:.1f} ms"
    )

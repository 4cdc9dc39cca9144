"""Listings of records and outcomes: state, audit entries, imports, refreshes, an apply's report.

Pure: each function takes plain data and returns lines or writes to a stream;
the CLI decides where they go.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, TextIO

from planner.printable import printable

if TYPE_CHECKING:
    from planner.apply import Outcome
    from planner.manager import StateView
    from planner.operations import ApplyResult, ImportResult, RecordedModel
    from planner.records.migrate import MigrationResult


def outcome_line(outcome: "Outcome") -> str:
    """One model's outcome, for a CI log."""
    detail = f" ({outcome.error_code}: {outcome.error_message})" if outcome.error_message else ""
    version = f" → version {outcome.version}" if outcome.version is not None else ""
    return f"  {outcome.status:8} {outcome.action} {outcome.address}{version}{detail}"


@dataclass(frozen=True)
class ApplyReport:
    """What apply tells its user: notes for stderr, the result for stdout."""

    notes: tuple[str, ...]
    lines: tuple[str, ...]


def apply_report(result: "ApplyResult") -> ApplyReport:
    from planner.metrics import render_text as metrics_text

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
    succeeded = sum(1 for outcome in result.outcomes if outcome.status == "success")
    lines = [f"\nApply complete: {succeeded} succeeded, {len(result.failures)} failed, {len(result.skipped)} not attempted."]
    if result.summary is not None and result.summary.updates:
        lines.append(metrics_text(result.summary))
    if result.undelivered:
        notes.append(
            f"Governance: {result.undelivered} event(s) not delivered yet, kept in the outbox; "
            f"run `llmplan governance flush --env {result.plan.environment}`."
        )
    return ApplyReport(tuple(notes), tuple(lines))


def refresh_listing(recorded: Iterable["RecordedModel"]) -> list[str]:
    lines = [f"  recorded {item.address} (version {item.version})" for item in recorded]
    lines.append(f"Refresh complete: {len(lines)} model(s) recorded in state." if lines else "State already matches the live configuration.")
    return lines


def import_listing(result: "ImportResult", environment: str, root: Path, *, listing_only: bool) -> list[str]:
    from planner.environment import display_path

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


def state_listing(view: "StateView") -> list[str]:
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
        error = f"  {entry.get('error_code')}: {entry.get('error_message')}" if entry.get("status") == "failure" else ""
        out.write(printable(f"{entry.get('timestamp')}  {entry.get('action'):20} {entry.get('status'):8} {entry.get('address', '-')}{error}") + "\n")
    if not count:
        out.write("no audit entries\n")


def migration_listing(result: "MigrationResult") -> list[str]:
    if result.nothing_to_do:
        return [f"Nothing to migrate: {result.target} already holds serial {result.serial} of lineage {result.lineage} and all {result.entries} audit entries."]
    return [
        f"Migrated from {result.source} to {result.target}:",
        f"  state: lineage {result.lineage}, serial {result.serial}" + (" (copied)" if result.state_copied else " (already there)"),
        f"  audit trail: {result.entries_copied} entr{'y' if result.entries_copied == 1 else 'ies'} copied, {result.entries} in all, chain verified",
        f"  governance outbox: {result.events_copied} waiting event(s) copied",
        f"The records in {result.source} are no longer used by this environment; keep them until you have checked the new backend.",
    ]

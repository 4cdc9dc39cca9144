"""Showing plans to people and machines: text, markdown, JSON.

Renderers decide nothing: each takes a plan and a writable text stream.
Output is deterministic (sorted by address, then field path) so two runs
over the same input print the same bytes, and the JSON rendering is the
very document a saved plan holds. Text and markdown show what came from
files, the gateway or a saved plan through :func:`~planner.printable.printable`,
so a value cannot drive the terminal.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, TextIO

from planner.diff import FieldChange
from planner.errors import Problem
from planner.printable import printable
from planner.drift import KIND_TEXT, DriftedModel, DriftReport
from planner.plan import CREATE, FORGET, NO_OP, UPDATE, Plan, ResourceChange, dumps, field_changes_json
from planner.tfjson import FORMAT_VERSION, TERRAFORM_VERSION, change_entry, configuration, document_text, plain_json, prior_state
from planner.safety import Classification, Finding, old_new

SYMBOLS = {CREATE: "+", UPDATE: "~", FORGET: "-", NO_OP: " "}
_COLORS = {"+": "\x1b[32m", "~": "\x1b[33m", "-": "\x1b[31m", "!": "\x1b[1;33m", "bold": "\x1b[1m"}
_RESET = "\x1b[0m"


def value_text(value: Any) -> str:
    """A value as the user wrote it, compactly: JSON scalars and flow mappings."""
    return printable(json.dumps(value, ensure_ascii=False, separators=(", ", ": "), sort_keys=True))


def summary_line(plan: Plan) -> str:
    if not plan.has_changes:
        return "No changes."
    line = f"Plan: {plan.count(CREATE)} to create, {plan.count(UPDATE)} to update, {plan.count(FORGET)} to forget."
    weakening = len(plan.weakening)
    if weakening:
        line += f" {weakening} change{'s weaken' if weakening != 1 else ' weakens'} safety."
    return line


# --- safety: weakenings first and in words ------------------------------------


def _weakenings(items: Iterable[tuple[str, Classification]]) -> list[tuple[str, Finding]]:
    """(model, finding) for every weakening of the given classifications."""
    return [(model, finding) for model, classification in items for finding in classification.weakenings]


def _safety_text(out: TextIO, heading: str, rows: list[tuple[str, Finding]], paint: Any) -> None:
    out.write(paint("!", heading) + "\n\n")
    for model, finding in rows:
        out.write(f"  {paint('!', '!')} {printable(f'{model}: {finding.path}: {old_new(finding)}')}\n      {printable(finding.reason)}\n")
    out.write("\n")


def _safety_markdown(out: TextIO, heading: str, rows: list[tuple[str, Finding]]) -> None:
    out.write(f"#### ⚠️ {heading}\n\n| model | field | before → after | why |\n|---|---|---|---|\n")
    for model, finding in rows:
        cells = (f"`{model}`", f"`{finding.path}`", f"`{old_new(finding)}`", finding.reason)
        out.write("| " + " | ".join(printable(cell).replace("|", "\\|") for cell in cells) + " |\n")
    out.write("\n")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"


def _field_lines(changes: Iterable[FieldChange]) -> list[tuple[str, str]]:
    """(symbol, text) per field change."""
    lines = []
    for change in changes:
        path = printable(change.path)
        if change.kind == "added":
            lines.append(("+", f"{path}: {value_text(change.after)}"))
        elif change.kind == "removed":
            lines.append(("-", f"{path}: {value_text(change.before)}"))
        else:
            lines.append(("~", f"{path}: {value_text(change.before)} → {value_text(change.after)}"))
    return lines


def _headline(change: ResourceChange) -> str:
    model = printable(f"{change.address} ({change.model_id})")
    if change.action == CREATE:
        return f"{model} will be configured for the first time"
    if change.action == UPDATE:
        return f"{model} will be updated in place (live version {printable(change.live_version)})"
    return f"{model} will be dropped from state; its live configuration is left alone"


# --- text -------------------------------------------------------------------


def render_text(plan: Plan, out: TextIO, *, color: bool = False) -> None:
    """Terraform-like human output."""

    def paint(symbol: str, text: str) -> str:
        return f"{_COLORS[symbol]}{text}{_RESET}" if color and symbol in _COLORS else text

    total = len([c for c in plan.changes if c.action != FORGET])
    if plan.drift:
        out.write(paint("bold", "Changed outside llmplan since the last apply:") + "\n\n")
        for item in plan.drift:
            since = f" (applied {item.applied_at}, state version {item.state_version}, live version {item.live_version})"
            out.write(f"  {paint('~', '~')} {printable(item.address + since)}\n")
            for symbol, text in _field_lines(item.changes):
                out.write(f"      {paint(symbol, symbol)} {text}\n")
        out.write("\n")
    if plan.safety.exceeded:
        out.write(paint("!", f"Warning: {plan.safety.describe()}.") + "\n\n")
    if not plan.has_changes:
        out.write(f"No changes. The live configuration of environment {printable(plan.environment)} matches the YAML ({total} model{'s' if total != 1 else ''}).\n")
        return
    out.write(f"llmplan will perform the following actions in environment {printable(plan.environment)}:\n\n")
    for change in plan.actionable:
        symbol = SYMBOLS[change.action]
        out.write(f"  # {_headline(change)}\n")
        out.write(f"  {paint(symbol, printable(f'{symbol} {change.action} {change.address}'))}\n")
        for field_symbol, text in _field_lines(change.changes):
            out.write(f"      {paint(field_symbol, field_symbol)} {text}\n")
        out.write("\n")
    weakened = _weakenings((change.address, change.classification) for change in plan.weakening)
    if weakened:
        _safety_text(out, f"Safety: this plan weakens {_count(len(weakened), 'setting')} of {_count(len(plan.weakening), 'model')}:", weakened, paint)
    outside = _weakenings((item.address, item.classification) for item in plan.drift)
    if outside:
        _safety_text(out, "Safety weakened outside llmplan since the last apply:", outside, paint)
    out.write(paint("bold", summary_line(plan)) + "\n")


# --- markdown ---------------------------------------------------------------


def render_markdown(plan: Plan, out: TextIO) -> None:
    """A pull-request comment: summary first, table, collapsible field diff."""
    out.write(f"### llmplan · `{printable(plan.environment)}` · {summary_line(plan)}\n\n")
    weakened = _weakenings((change.address, change.classification) for change in plan.weakening)
    if weakened:
        _safety_markdown(out, f"This plan weakens safety: {_count(len(weakened), 'setting')} of {_count(len(plan.weakening), 'model')}", weakened)
    outside = _weakenings((item.address, item.classification) for item in plan.drift)
    if outside:
        _safety_markdown(out, "Safety weakened outside llmplan since the last apply", outside)
    if plan.safety.exceeded:
        out.write(f"> [!WARNING]\n> {plan.safety.describe()}.\n\n")
    if plan.drift:
        out.write(f"> [!NOTE]\n> {len(plan.drift)} model{'s' if len(plan.drift) != 1 else ''} changed outside llmplan since the last apply: "
                  + ", ".join(f"`{printable(item.address)}`" for item in plan.drift) + ".\n\n")
    if plan.has_changes:
        out.write("| | model | action | fields |\n|---|---|---|---|\n")
        for change in plan.actionable:
            fields = ", ".join(f"`{printable(c.path)}`" for c in change.changes) if change.action == UPDATE else "—"
            out.write(f"| {SYMBOLS[change.action]} | `{printable(change.address)}` | {change.action} | {fields} |\n")
        _diff_details(out, "Field-level changes", ((f"{SYMBOLS[c.action]} {c.action} {c.address} ({c.model_id})", c.changes) for c in plan.actionable))
    else:
        out.write(f"The live configuration matches the YAML ({len(plan.changes)} models).\n")
    if plan.drift:
        _diff_details(out, "Changed outside llmplan", ((f"~ {i.address} (state version {i.state_version}, live version {i.live_version})", i.changes) for i in plan.drift))


def _diff_details(out: TextIO, summary: str, sections: Iterable[tuple[str, Iterable[FieldChange]]]) -> None:
    """A collapsed ``diff`` block: one ``@@ heading @@`` and its field lines per model."""
    out.write(f"\n<details><summary>{summary}</summary>\n\n```diff\n")
    for heading, changes in sections:
        out.write(f"@@ {printable(heading)} @@\n")
        out.write("".join(_diff_lines(changes)))
    out.write("```\n\n</details>\n")


def _diff_lines(changes: Iterable[FieldChange]) -> list[str]:
    """Field changes as ``diff`` lines so GitHub colors them."""
    lines = []
    for change in changes:
        if change.before is not None:
            lines.append(f"-   {printable(change.path)}: {value_text(change.before)}\n")
        if change.after is not None:
            lines.append(f"+   {printable(change.path)}: {value_text(change.after)}\n")
    return lines


# --- json -------------------------------------------------------------------


def render_json(plan: Plan, out: TextIO) -> None:
    out.write(dumps(plan))


def render(plan: Plan, out: TextIO, output_format: str, *, color: bool = False) -> None:
    if output_format == "json":
        render_json(plan, out)
    elif output_format == "markdown":
        render_markdown(plan, out)
    else:
        render_text(plan, out, color=color)


# --- drift reports ----------------------------------------------------------


def render_drift(report: DriftReport, out: TextIO, output_format: str, *, color: bool = False) -> None:
    if output_format == "json":
        out.write(document_text(drift_document(report)))
    elif output_format == "markdown":
        render_drift_markdown(report, out)
    else:
        render_drift_text(report, out, color=color)


def drift_summary(report: DriftReport) -> str:
    if not report.has_drift:
        return f"No drift: the live configuration of environment {report.environment} matches the YAML ({report.total} model{'s' if report.total != 1 else ''})."
    return f"Drift in environment {report.environment}: {len(report.drifted)} of {report.total} models differ from the YAML."


def _since(item: DriftedModel) -> str:
    live = "never configured on the gateway" if item.live_version is None else f"live version {item.live_version}"
    if item.applied_at is None:
        return live
    return printable(f"last applied {item.applied_at} as version {item.state_version}, {live}")


def render_drift_text(report: DriftReport, out: TextIO, *, color: bool = False) -> None:
    def paint(symbol: str, text: str) -> str:
        return f"{_COLORS[symbol]}{text}{_RESET}" if color and symbol in _COLORS else text

    outside = _weakenings((f"{item.address} ({item.model_id})", item.outside) for item in report.weakened_outside)
    if outside:
        _safety_text(out, f"Safety weakened outside llmplan: {_count(len(report.weakened_outside), 'model')}, {_count(len(outside), 'setting')}.", outside, paint)
    out.write(paint("bold", drift_summary(report)) + "\n")
    for item in report.drifted:
        out.write(f"\n  {paint('~', '~')} {printable(f'{item.address} ({item.model_id})')}: {KIND_TEXT[item.kind]} ({_since(item)})\n")
        for symbol, text in _field_lines(item.changes):
            out.write(f"      {paint(symbol, symbol)} {text}\n")
    if report.drifted:
        out.write("\n  (each line reads YAML → live)\n")
    if report.unmanaged:
        out.write(f"\nUnmanaged: {len(report.unmanaged)} configured model(s) on the gateway are in no YAML file of {report.environment}:\n")
        for model in report.unmanaged:
            out.write(f"  ? {printable(f'{model.name} ({model.model_id})')}\n")
        out.write(f"  Adopt them with: llmplan import --env {report.environment} --model-id ID\n")
    if report.drifted:
        out.write(
            f"\nTo restore the YAML: llmplan plan --env {report.environment}, then apply."
            f" To accept a reviewed change instead: edit the YAML to match, then llmplan refresh --env {report.environment}.\n"
        )


def render_drift_markdown(report: DriftReport, out: TextIO) -> None:
    out.write(f"### llmplan drift · `{report.environment}` · {len(report.drifted)} of {report.total} models drifted\n\n")
    outside = _weakenings((item.address, item.outside) for item in report.weakened_outside)
    if outside:
        _safety_markdown(out, f"Safety weakened outside llmplan: {_count(len(report.weakened_outside), 'model')}", outside)
    out.write(drift_summary(report) + "\n\n")
    if report.drifted:
        out.write("| model | what moved | since | fields |\n|---|---|---|---|\n")
        for item in report.drifted:
            fields = ", ".join(f"`{printable(c.path)}`" for c in item.changes)
            out.write(f"| `{printable(item.address)}` | {KIND_TEXT[item.kind]} | {_since(item)} | {fields} |\n")
        _diff_details(out, "Field-level differences (YAML → live)", ((f"{i.address} ({i.model_id})", i.changes) for i in report.drifted))
    if report.unmanaged:
        out.write(f"\n{len(report.unmanaged)} unmanaged model(s) on the gateway: " + ", ".join(printable(f"`{m.name}` ({m.model_id})") for m in report.unmanaged) + ".\n")


def drift_document(report: DriftReport) -> dict[str, Any]:
    """The drift report as JSON: Terraform's ``resource_drift``, ``prior_state``
    and ``configuration`` sections (a report plans nothing, so it has no
    ``planned_values``), then llmplan's own."""
    entries = []
    for item in report.drifted:
        entry = change_entry(item.address, ["update"], plain_json(item.desired), plain_json(item.live))
        entry.update(
            model_id=item.model_id,
            drift_kind=item.kind,
            description=KIND_TEXT[item.kind],
            last_applied=plain_json(item.last_applied),
            applied_at=item.applied_at,
            state_version=item.state_version,
            live_version=item.live_version,
            field_changes=field_changes_json(item.changes),
            llmplan={"safety": item.outside.to_dict()},
        )
        entries.append(entry)
    document: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "terraform_version": TERRAFORM_VERSION,
        "llmplan_version": report.tool_version,
        "timestamp": report.created_at,
        "resource_drift": entries,
        "prior_state": prior_state(report.prior_state),
        "configuration": configuration(report.configuration),
        "unmanaged": [{"model_id": m.model_id, "name": m.name, "version": m.version} for m in report.unmanaged],
        "summary": {"total": report.total, "drifted": len(report.drifted), "unmanaged": len(report.unmanaged)},
        "llmplan": {"environment": report.environment, "weakened_outside": len(report.weakened_outside)},
    }
    if document["prior_state"] is None:
        del document["prior_state"]
    return document


def validation_document(environment: str, models: int, warnings: Iterable[Problem] = ()) -> str:
    """``validate --format json`` of a valid environment (a failure is rendered by render.errors)."""
    document = {"environment": environment, "valid": True, "models": models, "problems": [], "warnings": [w.to_dict() for w in warnings]}
    return json.dumps(document, indent=2)

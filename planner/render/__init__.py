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

from planner.diff import FieldChange, unchanged_fields
from planner.errors import Problem
from planner.plan import CREATE, FORGET, NO_OP, UPDATE, DriftedResource, Plan, ResourceChange, dumps
from planner.printable import printable
from planner.safety import Classification, Finding, old_new

SYMBOLS = {CREATE: "+", UPDATE: "~", FORGET: "-", NO_OP: " "}
# Terraform's legend: what each symbol of a plan stands for (only the ones a plan uses are shown)
LEGEND = {
    CREATE: "create (a first configuration)",
    UPDATE: "update in place",
    FORGET: "forget (dropped from state; the live configuration is left alone)",
}
_COLORS = {"+": "\x1b[32m", "~": "\x1b[33m", "-": "\x1b[31m", "!": "\x1b[1;33m", "bold": "\x1b[1m"}
_RESET = "\x1b[0m"


def value_text(value: Any) -> str:
    """A value as the user wrote it, compactly: JSON scalars and flow mappings."""
    return printable(json.dumps(value, ensure_ascii=False, separators=(", ", ": "), sort_keys=True))


def summary_line(plan: Plan) -> str:
    if not plan.has_changes:
        return "No changes."
    moves = f" {len(plan.moves)} to move," if plan.moves else ""
    line = f"Plan: {plan.count(CREATE)} to create, {plan.count(UPDATE)} to update,{moves} {plan.count(FORGET)} to forget."
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
    if change.action == NO_OP and change.moved:
        return printable(f"{change.previous_address} has moved to {change.address}")
    if change.removed_on_gateway:
        return f"{model} was removed on the gateway (llmplan last applied version {change.state_version}) and will be configured again"
    if change.action == CREATE:
        return f"{model} will be configured for the first time"
    if change.action == UPDATE:
        return f"{model} will be updated in place (live version {printable(change.live_version)})"
    return f"{model} will be dropped from state; its live configuration is left alone"


def _outside_text(item: DriftedResource) -> str:
    """How a model changed outside llmplan, in words (a removed configuration named as such)."""
    if item.after is None:
        return f"configuration removed on the gateway (llmplan applied version {item.state_version} at {item.applied_at})"
    return f"applied {item.applied_at}, state version {item.state_version}, live version {item.live_version}"


def limit_text(plan: Plan, *, forced: bool = False) -> str:
    """The change-limit warning; with --force it says the limit is lifted, not how to lift it."""
    return f"Warning: {plan.safety.describe(forced=forced)}."


def targeting_text(plan: Plan) -> str:
    """Terraform's warning: a targeted plan is not the whole picture."""
    return (
        f"Warning: resource targeting is in effect: this plan covers only {', '.join(plan.targets)}; "
        "other changes may be missing. Use --target for exceptional situations, and plan without it to see everything."
    )


# --- text -------------------------------------------------------------------


def render_text(plan: Plan, out: TextIO, *, color: bool = False, forced: bool = False) -> None:
    """Terraform-like human output. ``forced``: apply --force shows the plan
    it is about to apply over the change limit."""

    def paint(symbol: str, text: str) -> str:
        return f"{_COLORS[symbol]}{text}{_RESET}" if color and symbol in _COLORS else text

    total = len([c for c in plan.changes if c.action != FORGET])
    if plan.drift:
        out.write(paint("bold", "Changed outside llmplan since the last apply:") + "\n\n")
        for item in plan.drift:
            out.write(f"  {paint('~', '~')} {printable(item.address)} ({printable(_outside_text(item))})\n")
            for symbol, text in _field_lines(item.changes):
                out.write(f"      {paint(symbol, symbol)} {text}\n")
        out.write("\n  (each line reads last applied → live)\n\n")
    if plan.targets:
        out.write(paint("!", targeting_text(plan)) + "\n\n")
    if plan.safety.exceeded:
        out.write(paint("!", limit_text(plan, forced=forced)) + "\n\n")
    if not plan.has_changes:
        out.write(f"No changes. The live configuration of environment {printable(plan.environment)} matches the YAML ({total} model{'s' if total != 1 else ''}).\n")
        return
    used = [action for action in (CREATE, UPDATE, FORGET) if plan.count(action)]
    if used:
        out.write("Model actions are indicated with the following symbols:\n")
        out.write("".join(f"  {paint(SYMBOLS[action], SYMBOLS[action])} {LEGEND[action]}\n" for action in used))
        out.write("Field lines read live → YAML.\n\n")
    out.write(f"llmplan will perform the following actions in environment {printable(plan.environment)}:\n\n")
    for change in plan.actionable:
        out.write(f"  # {_headline(change)}\n")
        if change.action == NO_OP:  # a move alone: nothing is sent
            out.write(printable(f"    move {change.previous_address} to {change.address}") + "\n")
        else:
            if change.moved:
                out.write(printable(f"  # (moved from {change.previous_address})") + "\n")
            symbol = SYMBOLS[change.action]
            out.write(f"  {paint(symbol, printable(f'{symbol} {change.action} {change.address}'))}\n")
        for field_symbol, text in _field_lines(change.changes):
            out.write(f"      {paint(field_symbol, field_symbol)} {text}\n")
        hidden = unchanged_fields(change.before, change.after, change.changes)
        if hidden:
            out.write(f"      # ({hidden} unchanged field{'s' if hidden != 1 else ''} hidden)\n")
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
    if plan.targets:
        out.write(f"> [!WARNING]\n> {targeting_text(plan).removeprefix('Warning: ')}\n\n")
    if plan.safety.exceeded:
        out.write(f"> [!WARNING]\n> {plan.safety.describe()}.\n\n")
    if plan.drift:
        out.write(f"> [!NOTE]\n> {len(plan.drift)} model{'s' if len(plan.drift) != 1 else ''} changed outside llmplan since the last apply: "
                  + ", ".join(f"`{printable(item.address)}`" for item in plan.drift) + ".\n\n")
    if plan.has_changes:
        out.write("| | model | action | fields |\n|---|---|---|---|\n")
        for change in plan.actionable:
            fields = ", ".join(f"`{printable(c.path)}`" for c in change.changes) if change.action == UPDATE else "—"
            out.write(f"| {SYMBOLS[change.action]} | `{printable(change.address)}` | {_markdown_action(change)} | {fields} |\n")
        _diff_details(out, "Field-level changes (live → YAML)", ((_markdown_heading(c), c.changes) for c in plan.actionable))
    else:
        out.write(f"The live configuration matches the YAML ({len(plan.changes)} models).\n")
    if plan.drift:
        _diff_details(out, "Changed outside llmplan (last applied → live)", ((f"~ {i.address} ({_outside_text(i)})", i.changes) for i in plan.drift))


def _markdown_action(change: ResourceChange) -> str:
    if change.action == NO_OP:
        return f"move from `{change.previous_address}`"
    if change.removed_on_gateway:
        return f"create (removed on the gateway; llmplan last applied version {change.state_version})"
    return f"{change.action} (moved from `{change.previous_address}`)" if change.moved else change.action


def _markdown_heading(change: ResourceChange) -> str:
    if change.action == NO_OP:
        return f"{change.previous_address} has moved to {change.address} ({change.model_id})"
    moved = f", moved from {change.previous_address}" if change.moved else ""
    return f"{SYMBOLS[change.action]} {change.action} {change.address} ({change.model_id}{moved})"


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


def render(plan: Plan, out: TextIO, output_format: str, *, color: bool = False, forced: bool = False) -> None:
    if output_format == "json":
        render_json(plan, out)
    elif output_format == "markdown":
        render_markdown(plan, out)
    else:
        render_text(plan, out, color=color, forced=forced)


def validation_document(environment: str, models: int, warnings: Iterable[Problem] = ()) -> str:
    """``validate --format json`` of a valid environment (a failure is rendered by render.errors)."""
    document = {"environment": environment, "valid": True, "models": models, "problems": [], "warnings": [w.to_dict() for w in warnings]}
    return json.dumps(document, indent=2)


def validation_documents(results: Iterable[tuple[str, int, Iterable[Problem]]]) -> str:
    """``validate --format json`` of several valid environments: one document, a member per environment."""
    environments = {name: {"valid": True, "models": models, "problems": [], "warnings": [w.to_dict() for w in warnings]} for name, models, warnings in results}
    return json.dumps({"valid": True, "environments": environments}, indent=2)


# Drift reports are rendered by planner.render.drift; imported last, as it uses the helpers above.
from planner.render.drift import drift_document, drift_summary, render_drift, render_drift_markdown, render_drift_text  # noqa: E402

__all__ = [
    "drift_document", "drift_summary", "render", "render_drift", "render_drift_markdown", "render_drift_text",
    "render_json", "render_markdown", "render_text", "summary_line", "validation_document", "validation_documents", "value_text",
]



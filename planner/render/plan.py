"""A plan for people and machines: text for a terminal, markdown for a pull request, Terraform's JSON.

The plan knows nothing of how it is shown; these read it and write. Every
arrow starts at the live value: field lines read live → YAML, what changed
outside llmplan reads live → last applied, and each section says which. The
symbols of the legend name the actions.
"""

from __future__ import annotations

from typing import TextIO

from planner.core.diff import unchanged_fields
from planner.core.plan_file import dumps
from planner.model.plan import CREATE, FORGET, NO_OP, UPDATE, DriftedResource, Plan, ResourceChange
from planner.model.printable import printable
from planner.render.common import COLORS, LIVE_TO_APPLIED, LIVE_TO_YAML, RESET, count, diff_details, field_lines, from_live, safety_markdown, safety_text, weakening_rows

SYMBOLS = {CREATE: "+", UPDATE: "~", FORGET: "-", NO_OP: " "}
# Terraform's legend: what each symbol of a plan stands for (only the ones a plan uses are shown)
LEGEND = {
    CREATE: "create (a first configuration)",
    UPDATE: "update in place",
    FORGET: "forget (dropped from state; the live configuration is left alone)",
}


def summary_line(plan: Plan) -> str:
    if not plan.has_changes:
        return "No changes."
    moves = f" {len(plan.moves)} to move," if plan.moves else ""
    line = f"Plan: {plan.count(CREATE)} to create, {plan.count(UPDATE)} to update,{moves} {plan.count(FORGET)} to forget."
    weakening = len(plan.weakening)
    if weakening:
        line += f" {weakening} change{'s weaken' if weakening != 1 else ' weakens'} safety."
    return line



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



def render_text(plan: Plan, out: TextIO, *, color: bool = False, forced: bool = False) -> None:
    """Terraform-like human output. ``forced``: apply --force shows the plan
    it is about to apply over the change limit."""

    def paint(symbol: str, text: str) -> str:
        return f"{COLORS[symbol]}{text}{RESET}" if color and symbol in COLORS else text

    total = len([c for c in plan.changes if c.action != FORGET])
    if plan.drift:
        out.write(paint("bold", "Changed outside llmplan since the last apply:") + "\n\n")
        for item in plan.drift:
            out.write(f"  {paint('~', '~')} {printable(item.address)} ({printable(_outside_text(item))})\n")
            for symbol, text in field_lines(from_live(item.changes)):
                out.write(f"      {paint(symbol, symbol)} {text}\n")
        out.write(f"\n  (each line reads {LIVE_TO_APPLIED})\n\n")
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
        out.write(f"Field lines read {LIVE_TO_YAML}.\n\n")
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
        for field_symbol, text in field_lines(change.changes):
            out.write(f"      {paint(field_symbol, field_symbol)} {text}\n")
        hidden = unchanged_fields(change.before, change.after, change.changes)
        if hidden:
            out.write(f"      # ({hidden} unchanged field{'s' if hidden != 1 else ''} hidden)\n")
        out.write("\n")
    weakened = weakening_rows((change.address, change.classification) for change in plan.weakening)
    if weakened:
        safety_text(out, f"Safety: this plan weakens {count(len(weakened), 'setting')} of {count(len(plan.weakening), 'model')}:", weakened, paint)
    outside = weakening_rows(((item.address, item.classification) for item in plan.drift), to_live=True)
    if outside:
        safety_text(out, "Safety weakened outside llmplan since the last apply:", outside, paint, legend=LIVE_TO_APPLIED)
    out.write(paint("bold", summary_line(plan)) + "\n")



def render_markdown(plan: Plan, out: TextIO) -> None:
    """A pull-request comment: summary first, table, collapsible field diff."""
    out.write(f"### llmplan · `{printable(plan.environment)}` · {summary_line(plan)}\n\n")
    weakened = weakening_rows((change.address, change.classification) for change in plan.weakening)
    if weakened:
        safety_markdown(out, f"This plan weakens safety: {count(len(weakened), 'setting')} of {count(len(plan.weakening), 'model')}", weakened)
    outside = weakening_rows(((item.address, item.classification) for item in plan.drift), to_live=True)
    if outside:
        safety_markdown(out, "Safety weakened outside llmplan since the last apply", outside, legend=LIVE_TO_APPLIED)
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
        diff_details(out, f"Field-level changes ({LIVE_TO_YAML})", ((_markdown_heading(c), c.changes) for c in plan.actionable))
    else:
        out.write(f"The live configuration matches the YAML ({len(plan.changes)} models).\n")
    if plan.drift:
        diff_details(out, f"Changed outside llmplan ({LIVE_TO_APPLIED})", ((f"~ {i.address} ({_outside_text(i)})", from_live(i.changes)) for i in plan.drift))



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



def render_json(plan: Plan, out: TextIO) -> None:
    out.write(dumps(plan))



def render(plan: Plan, out: TextIO, output_format: str, *, color: bool = False, forced: bool = False) -> None:
    if output_format == "json":
        render_json(plan, out)
    elif output_format == "markdown":
        render_markdown(plan, out)
    else:
        render_text(plan, out, color=color, forced=forced)

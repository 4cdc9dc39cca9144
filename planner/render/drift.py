"""Showing drift reports: text for cron logs, markdown for an issue, JSON for machines.

Differences read as a plan reads them, from live to the YAML (what apply
would change back); safety weakened outside llmplan reads from live too, to
what llmplan last applied (to the YAML for a model it never applied). Every
section says which. The summary counts unmanaged configurations too.
"""

from __future__ import annotations

from typing import Any, TextIO

from planner.core.drift import KIND_TEXT, DriftedModel, DriftReport
from planner.core.plan_file import field_changes_json
from planner.core.tfjson import FORMAT_VERSION, TERRAFORM_VERSION, change_entry, configuration, document_text, plain_json, prior_state
from planner.model.printable import printable
from planner.render.common import COLORS, LIVE_TO_APPLIED, LIVE_TO_YAML, RESET, count, diff_details, field_lines, safety_markdown, safety_text, weakening_rows

LEGEND = f"each line reads {LIVE_TO_YAML}: what apply would change back"


def outside_legend(report: DriftReport) -> str:
    """What the arrows of the safety section compare: live with what llmplan last applied, or with the YAML for a model it never applied."""
    applied = {item.last_applied is not None for item in report.weakened_outside}
    if applied == {False}:
        return LIVE_TO_YAML
    return LIVE_TO_APPLIED if applied == {True} else f"{LIVE_TO_APPLIED}; for a model llmplan never applied, {LIVE_TO_YAML}"


def render_drift(report: DriftReport, out: TextIO, output_format: str, *, color: bool = False) -> None:
    if output_format == "json":
        out.write(document_text(drift_document(report)))
    elif output_format == "markdown":
        render_drift_markdown(report, out)
    else:
        render_drift_text(report, out, color=color)


def drift_summary(report: DriftReport) -> str:
    unmanaged = len(report.unmanaged)
    extra = f"; {count(unmanaged, 'configuration')} on the gateway {'is' if unmanaged == 1 else 'are'} unmanaged (in no YAML file)" if unmanaged else ""
    if not report.has_drift:
        models = count(report.total, "model")
        return f"No drift: the live configuration of environment {report.environment} matches the YAML ({models}){extra}."
    return f"Drift in environment {report.environment}: {len(report.drifted)} of {report.total} models differ from the YAML{extra}."


def _since(item: DriftedModel) -> str:
    if item.live_version is None:
        live = "removed on the gateway" if item.state_version is not None else "never configured on the gateway"
    else:
        live = f"live version {item.live_version}"
    if item.applied_at is None:
        return live
    return printable(f"last applied {item.applied_at} as version {item.state_version}, {live}")


def render_drift_text(report: DriftReport, out: TextIO, *, color: bool = False) -> None:
    def paint(symbol: str, text: str) -> str:
        return f"{COLORS[symbol]}{text}{RESET}" if color and symbol in COLORS else text

    outside = weakening_rows(((f"{item.address} ({item.model_id})", item.outside) for item in report.weakened_outside), to_live=True)
    if outside:
        heading = f"Safety weakened outside llmplan: {count(len(report.weakened_outside), 'model')}, {count(len(outside), 'setting')}."
        safety_text(out, heading, outside, paint, legend=outside_legend(report))
    out.write(paint("bold", drift_summary(report)) + "\n")
    if report.drifted:
        out.write(f"\n  ({LEGEND})\n")
    for item in report.drifted:
        out.write(f"\n  {paint('~', '~')} {printable(f'{item.address} ({item.model_id})')}: {KIND_TEXT[item.kind]} ({_since(item)})\n")
        for symbol, text in field_lines(item.changes):
            out.write(f"      {paint(symbol, symbol)} {text}\n")
    if report.unmanaged:
        out.write(f"\nUnmanaged: {count(len(report.unmanaged), 'configured model')} on the gateway {'is' if len(report.unmanaged) == 1 else 'are'} in no YAML file of {report.environment}:\n")
        for model in report.unmanaged:
            out.write(f"  ? {printable(f'{model.name} ({model.model_id})')}\n")
        out.write(f"  Adopt them with: llmplan import --env {report.environment} --model-id ID\n")
    if report.drifted:
        out.write(
            f"\nTo restore the YAML: llmplan plan --env {report.environment}, then apply."
            f" To accept a reviewed change instead: edit the YAML to match, then llmplan refresh --env {report.environment}.\n"
        )


def render_drift_markdown(report: DriftReport, out: TextIO) -> None:
    unmanaged = f", {len(report.unmanaged)} unmanaged" if report.unmanaged else ""
    out.write(f"### llmplan drift · `{report.environment}` · {len(report.drifted)} of {report.total} models drifted{unmanaged}\n\n")
    outside = weakening_rows(((item.address, item.outside) for item in report.weakened_outside), to_live=True)
    if outside:
        safety_markdown(out, f"Safety weakened outside llmplan: {count(len(report.weakened_outside), 'model')}", outside, legend=outside_legend(report))
    out.write(drift_summary(report) + "\n\n")
    if report.drifted:
        out.write("| model | what moved | since | fields |\n|---|---|---|---|\n")
        for item in report.drifted:
            fields = ", ".join(f"`{printable(c.path)}`" for c in item.changes)
            out.write(f"| `{printable(item.address)}` | {KIND_TEXT[item.kind]} | {_since(item)} | {fields} |\n")
        diff_details(out, f"Field-level differences ({LEGEND})", ((f"{i.address} ({i.model_id})", i.changes) for i in report.drifted))
    if report.unmanaged:
        out.write(f"\n{count(len(report.unmanaged), 'unmanaged model')} on the gateway: " + ", ".join(printable(f"`{m.name}` ({m.model_id})") for m in report.unmanaged) + ".\n")


def drift_document(report: DriftReport) -> dict[str, Any]:
    """The drift report as JSON: Terraform's ``resource_drift``, ``prior_state``
    and ``configuration`` sections (a report plans nothing, so it has no
    ``planned_values``), then llmplan's own. ``change.before`` is live and
    ``change.after`` the YAML, as in a plan."""
    entries = []
    for item in report.drifted:
        entry = change_entry(item.address, ["update"], plain_json(item.live), plain_json(item.desired))
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

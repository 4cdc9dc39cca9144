"""drift, refresh, import: comparing the live gateway with Git, and adopting what is live."""

from __future__ import annotations

import io
from pathlib import Path

import click

from planner.adapters.outputs import write_output_file
from planner.app.drift import drift as detect
from planner.app.drift import drift_environments
from planner.app.importing import import_models
from planner.app.refresh import refresh as refresh_state
from planner.cli.options import CONTEXT, Found, emit, env_option, format_option, gateway_timeout_option, lock_timeout_option, no_color_option, output, parallelism_option, root_option, use_color
from planner.cli.selection import environments_options, report_failures, select
from planner.core.drift import DriftReport
from planner.model.fleet import finished
from planner.render.drift import render_drift
from planner.render.fleet_drift import WEAKENED, Focus, render_drifts
from planner.render.records import import_listing, refresh_listing, refresh_warnings


@click.command(context_settings=CONTEXT)
@environments_options
@root_option
@format_option("text", "markdown", "json")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), help="Also write the report to FILE (same format).")
@click.option("--fail-on-weakening", is_flag=True, help="Exit 2 only when safety was weakened outside llmplan (other drift is reported, exit 0).")
@click.option("--fail-on-unmanaged", is_flag=True, help="Exit 2 also when the gateway has configurations no YAML file names (unmanaged).")
@parallelism_option
@gateway_timeout_option
@no_color_option
def drift(
    envs: tuple[str, ...],
    every: bool,
    changed_from: str | None,
    root: Path,
    output_format: str,
    out_file: Path | None,
    fail_on_weakening: bool,
    fail_on_unmanaged: bool,
    parallelism: int | None,
    gateway_timeout: float | None,
    no_color: bool,
) -> Found:
    """Report where the live gateway differs from the YAML (for cron).

    Tells apart "live changed outside llmplan" from "YAML changed but not
    applied" and from a configuration removed on the gateway, counts
    configured models no YAML names (unmanaged), and says since when each
    difference is known. Differences read live → YAML, as in a plan. Safety
    weakened outside llmplan is reported first. Read-only: no lock, no
    prompt. Exit 0 no drift, 2 drift (with --fail-on-weakening: 2 only for a
    weakening; with --fail-on-unmanaged: 2 for an unmanaged configuration
    too), 1 error (an unreachable gateway is an error, never "no drift").

    Several environments (--all: the one cron job of a fleet) are checked
    side by side into one report whose summary names only the environments
    that drifted or failed; exit 1 if any failed, after every other one was
    checked and shown.

    \b
    Examples:
      llmplan drift --env prod --format json --out drift.json
      llmplan drift --env prod --fail-on-weakening
      llmplan drift --env prod --fail-on-unmanaged
      llmplan drift --all --format markdown
    """
    chosen = select(root, envs, every, changed_from)

    def found(report: DriftReport) -> bool:
        return bool(report.weakened_outside if fail_on_weakening else report.has_drift) or (fail_on_unmanaged and bool(report.unmanaged))

    if not chosen.single:
        results = drift_environments(root, chosen.names, parallelism=parallelism, gateway_timeout=gateway_timeout)

        # the summary names the environments the exit code counts
        focus = WEAKENED if fail_on_weakening else Focus(lambda report: report.has_drift or (fail_on_unmanaged and bool(report.unmanaged)))
        if out_file is not None:
            buffer = io.StringIO()
            render_drifts(results, buffer, output_format, focus=focus)
            write_output_file(out_file, buffer.getvalue(), what="drift report")
        render_drifts(results, output(), output_format, focus=focus, color=use_color(no_color))
        if report_failures(results, output_format):
            return Found.ERRORS
        return Found.CHANGES if any(found(report) for _, report in finished(results)) else Found.NOTHING
    report = detect(root, chosen.names[0], parallelism=parallelism, gateway_timeout=gateway_timeout)
    if out_file is not None:  # first, so a path that cannot be written fails before any report is shown
        buffer = io.StringIO()
        render_drift(report, buffer, output_format)
        write_output_file(out_file, buffer.getvalue(), what="drift report")
    render_drift(report, output(), output_format, color=use_color(no_color))
    return Found.CHANGES if found(report) else Found.NOTHING


@click.command(context_settings=CONTEXT)
@env_option
@root_option
@lock_timeout_option
@gateway_timeout_option
def refresh(env: str, root: Path, lock_timeout: float, gateway_timeout: float | None) -> None:
    """Record the live configuration of managed models in state.

    Changes nothing on the gateway. Use it to accept a reviewed change made
    outside llmplan: edit the YAML to match, then refresh, and plan and
    drift no longer report it. Each recorded model gets an audit entry; a
    warning names every accepted live value that still differs from the YAML.

    \b
    Example:
      llmplan refresh --env dev
    """
    recorded = refresh_state(root, env, lock_timeout=lock_timeout, gateway_timeout=gateway_timeout)
    for line in refresh_listing(recorded):
        emit(line)
    for line in refresh_warnings(recorded, env):
        emit(line, err=True)


@click.command("import", context_settings=CONTEXT)
@env_option
@root_option
@click.option("--model-id", "model_ids", multiple=True, metavar="ID", help="Import this live model (repeatable).")
@click.option("--all", "import_all", is_flag=True, help="Import every configured live model no YAML file names.")
@lock_timeout_option
@gateway_timeout_option
def import_command(env: str, root: Path, model_ids: tuple[str, ...], import_all: bool, lock_timeout: float, gateway_timeout: float | None) -> None:
    """Adopt live configurations into YAML: write models/<name>.yaml.

    Writes one file per model (named after the model, never overwriting a
    file) in the canonical layout, and records it in state, so the next plan
    shows no change for it. Without --model-id or --all, lists what could be
    imported.

    \b
    Examples:
      llmplan import --env dev
      llmplan import --env dev --model-id b2c3d4e5-f6a7-4890-9bcd-ef1234567891
    """
    if model_ids and import_all:
        raise click.UsageError("pass --model-id or --all, not both")
    result = import_models(root, env, model_ids=model_ids, import_all=import_all, lock_timeout=lock_timeout, gateway_timeout=gateway_timeout)
    for line in import_listing(result, env, root.resolve(), listing_only=not model_ids and not import_all):
        emit(line)

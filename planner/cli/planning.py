"""plan and show: the read-only commands a pull request runs."""

from __future__ import annotations

from pathlib import Path

import click

from planner.adapters.outputs import PLAN_SUFFIX, plan_folder, read_plan_file, saved_plans, write_plan_file
from planner.app.plan import make_plan, plan_environments
from planner.cli.options import CONTEXT, REQUESTED, Found, emit, format_option, gateway_timeout_option, no_color_option, output, parallelism_option, root_option, use_color, warn
from planner.cli.selection import environments_options, report_failures, select
from planner.model.errors import LlmplanError, PlanFileError
from planner.model.fleet import EnvironmentResult
from planner.model.plan import Plan
from planner.render.fleet_plan import render_plans
from planner.render.plan import render, targeting_text


@click.command(context_settings=CONTEXT)
@environments_options
@root_option
@format_option("text", "markdown", "json")
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path),
    help=f"Save the plan to FILE for `llmplan apply FILE`; with several environments a folder, one plan each (DIR/<env>{PLAN_SUFFIX}).",
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes (0 none, 1 error), as Terraform does.")
@click.option("--target", "targets", multiple=True, metavar="ADDRESS", help="Plan only this model address (repeatable); for exceptional situations, with a warning.")
@parallelism_option
@gateway_timeout_option
@no_color_option
def plan(
    envs: tuple[str, ...],
    every: bool,
    changed_from: str | None,
    root: Path,
    output_format: str,
    out_file: Path | None,
    detailed_exitcode: bool,
    targets: tuple[str, ...],
    parallelism: int | None,
    gateway_timeout: float | None,
    no_color: bool,
) -> Found:
    """Show what apply would change: desired YAML against the live gateway.

    Validates the environment, fetches the live configuration and the
    models' capabilities, and prints field-level changes. Changes made on the
    gateway outside llmplan since the last apply are listed separately.

    Several environments (--env repeated, --all, --changed-from) are planned
    side by side into one report: a summary table, then each environment's
    plan. One that fails is shown failed and the others are still planned;
    the exit code is then 1.

    \b
    Examples:
      llmplan plan --env dev
      llmplan plan --env prod --format markdown --out plan.json --detailed-exitcode
      llmplan plan --changed-from origin/main --format markdown --out plans/
    """
    chosen = select(root, envs, every, changed_from)
    if not chosen.single:
        if targets:
            raise click.UsageError("--target names addresses of one environment: give a single --env")
        return _plan_several(chosen.names, root, output_format, out_file, detailed_exitcode, parallelism, gateway_timeout, no_color, changed_from)
    outcome = make_plan(root, chosen.names[0], targets=targets, parallelism=parallelism, gateway_timeout=gateway_timeout)
    warn(outcome.environment.warnings)
    warn(outcome.warnings)
    if out_file is not None:
        write_plan_file(outcome.plan, out_file)
    if targets and output_format == "json":  # text and markdown carry the warning in the plan itself
        emit(targeting_text(outcome.plan), err=True)
    render(outcome.plan, output(), output_format, color=use_color(no_color))
    if out_file is not None:
        emit(f"Saved the plan to {out_file}; apply exactly this plan with: llmplan apply {out_file}", err=True)
    return Found.CHANGES if detailed_exitcode and outcome.plan.has_changes else Found.NOTHING


def _plan_several(
    names: tuple[str, ...],
    root: Path,
    output_format: str,
    out_dir: Path | None,
    detailed_exitcode: bool,
    parallelism: int | None,
    gateway_timeout: float | None,
    no_color: bool,
    changed_from: str | None,
) -> Found:
    if out_dir is not None:
        plan_folder(out_dir)  # a folder that cannot be written fails before anything is planned
    outcomes = plan_environments(root, names, parallelism=parallelism, gateway_timeout=gateway_timeout)
    results = [EnvironmentResult(o.environment, o.result.plan if o.result else None, o.error, o.warnings) for o in outcomes]
    for result in results:
        warn(result.warnings)
    saved = []
    if out_dir is not None:
        for result in results:
            if result.result is not None:
                path = out_dir / f"{result.environment}{PLAN_SUFFIX}"
                write_plan_file(result.result, path)
                saved.append(path)
    empty = f"No environment has a file that differs from {changed_from}: nothing to plan." if changed_from is not None else ""
    render_plans(results, output(), output_format, color=use_color(no_color), empty=empty)
    if saved:
        emit(f"Saved {len(saved)} plan{'s' if len(saved) != 1 else ''} in {out_dir}; apply each exactly as planned, one environment at a time: llmplan apply {saved[0]}", err=True)
    if report_failures(results, output_format):
        return Found.ERRORS
    return Found.CHANGES if detailed_exitcode and any(r.result is not None and r.result.has_changes for r in results) else Found.NOTHING


@click.command(context_settings=CONTEXT)
@click.argument("plan_files", nargs=-1, required=True, metavar="PLANFILE...", type=click.Path(path_type=Path))
@click.option("--env", "-e", "envs", multiple=True, metavar="ENV", help="Only the plans of this environment (repeatable), from the files and folders given.")
@format_option("text", "markdown", "json")
@no_color_option
def show(plan_files: tuple[Path, ...], envs: tuple[str, ...], output_format: str, no_color: bool) -> Found:
    """Render saved plan files (each checked against its checksum first).

    A folder stands for the plans `llmplan plan --out DIR` saved in it.
    Several plans make one report, as `plan` shows several environments.

    \b
    Examples:
      llmplan show plan.json --format markdown
      llmplan show plans/ --env staging --env prod
    """
    if len(plan_files) == 1 and not envs and not plan_files[0].is_dir():
        render(read_plan_file(plan_files[0]), output(), output_format, color=use_color(no_color))
        return Found.NOTHING
    REQUESTED["env"] = envs[0] if len(envs) == 1 else None
    results: list[EnvironmentResult[Plan]] = []
    for path in saved_plans(plan_files):
        try:
            saved = read_plan_file(path)
        except LlmplanError as error:
            results.append(EnvironmentResult(str(path), error=error))
            continue
        if not envs or saved.environment in envs:
            results.append(EnvironmentResult(saved.environment, saved))
    missing = [name for name in envs if name not in {r.environment for r in results}]
    if missing:
        raise PlanFileError(f"no saved plan of environment {', '.join(missing)} in {', '.join(map(str, plan_files))}")
    render_plans(results, output(), output_format, color=use_color(no_color))
    return Found.ERRORS if report_failures(results, output_format) else Found.NOTHING

"""plan and show: the read-only commands a pull request runs."""

from __future__ import annotations

from pathlib import Path

import click

from planner.adapters.outputs import read_plan_file, write_plan_file
from planner.app.plan import make_plan
from planner.cli.options import CONTEXT, Found, emit, env_option, format_option, gateway_timeout_option, no_color_option, output, parallelism_option, root_option, use_color, warn
from planner.render.plan import render, targeting_text


@click.command(context_settings=CONTEXT)
@env_option
@root_option
@format_option("text", "markdown", "json")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), help="Save the plan to FILE for `llmplan apply FILE`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes (0 none, 1 error), as Terraform does.")
@click.option("--target", "targets", multiple=True, metavar="ADDRESS", help="Plan only this model address (repeatable); for exceptional situations, with a warning.")
@parallelism_option
@gateway_timeout_option
@no_color_option
def plan(env: str, root: Path, output_format: str, out_file: Path | None, detailed_exitcode: bool, targets: tuple[str, ...], parallelism: int | None, gateway_timeout: float | None, no_color: bool) -> Found:
    """Show what apply would change: desired YAML against the live gateway.

    Validates the environment, fetches the live configuration and the
    models' capabilities, and prints field-level changes. Changes made on the
    gateway outside llmplan since the last apply are listed separately.

    \b
    Examples:
      llmplan plan --env dev
      llmplan plan --env prod --format markdown --out plan.json --detailed-exitcode
    """
    outcome = make_plan(root, env, targets=targets, parallelism=parallelism, gateway_timeout=gateway_timeout)
    warn(outcome.environment.warnings)
    if out_file is not None:
        write_plan_file(outcome.plan, out_file)
    if targets and output_format == "json":  # text and markdown carry the warning in the plan itself
        emit(targeting_text(outcome.plan), err=True)
    render(outcome.plan, output(), output_format, color=use_color(no_color))
    if out_file is not None:
        emit(f"Saved the plan to {out_file}; apply exactly this plan with: llmplan apply {out_file}", err=True)
    return Found.CHANGES if detailed_exitcode and outcome.plan.has_changes else Found.NOTHING


@click.command(context_settings=CONTEXT)
@click.argument("plan_file", type=click.Path(dir_okay=False, path_type=Path))
@format_option("text", "markdown", "json")
@no_color_option
def show(plan_file: Path, output_format: str, no_color: bool) -> None:
    """Render a saved plan file (checked against its checksum first).

    \b
    Example:
      llmplan show plan.json --format markdown
    """
    render(read_plan_file(plan_file), output(), output_format, color=use_color(no_color))

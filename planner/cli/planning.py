"""validate, plan, show: the read-only commands a pull request runs."""

from __future__ import annotations

from pathlib import Path

import click

from planner.cli.options import CONTEXT, Found, emit, env_option, format_option, gateway_timeout_option, no_color_option, output, parallelism_option, root_option, use_color, warn


@click.command(context_settings=CONTEXT)
@env_option
@root_option
@format_option("text", "json")
def validate(env: str, root: Path, output_format: str) -> None:
    """Check an environment's YAML offline: syntax, schema, policy, duplicates.

    Sends no request. Every problem is reported at once, each with file,
    line and field. Exit 0 when valid, 1 otherwise.

    \b
    Example:
      llmplan validate --env prod --format json
    """
    from planner.app import context as manager
    from planner.render import validation_document

    environment, warnings = manager.validate_environment(root, env)
    warn(warnings)
    count = len(environment.models)
    if output_format == "json":
        emit(validation_document(env, count, warnings))
    else:
        emit(f"{count} model{'s' if count != 1 else ''} valid in environment {env}")


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
    from planner.app import context as manager
    from planner.render import render

    outcome = manager.make_plan(root, env, targets=targets, parallelism=parallelism, gateway_timeout=gateway_timeout)
    warn(outcome.environment.warnings)
    if out_file is not None:
        manager.write_plan_file(outcome.plan, out_file)
    if targets and output_format == "json":  # text and markdown carry the warning in the plan itself
        from planner.render import targeting_text

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
    from planner.app import context as manager
    from planner.render import render

    render(manager.read_plan_file(plan_file), output(), output_format, color=use_color(no_color))

"""validate, plan, show: the read-only commands a pull request runs."""

from __future__ import annotations

from pathlib import Path

import click

from planner.cli.options import CONTEXT, REQUESTED, Found, emit, env_option, environment_paths, format_option, gateway_timeout_option, no_color_option, output, parallelism_option, paths_argument, root_option, use_color, warn
from planner.errors import ConfigurationError, Problem, ValidationFailed


@click.command(context_settings=CONTEXT)
@env_option(required=False)
@root_option
@format_option("text", "json")
@paths_argument
def validate(env: str | None, root: Path, output_format: str, paths: tuple[Path, ...]) -> None:
    """Check environments' YAML offline: syntax, schema, policy, duplicates.

    Checks the environment --env names, and each environment holding one of
    the PATHs (files or folders under environments/<env>/, as a pre-commit
    hook passes the changed files). Sends no request. Every problem is
    reported at once, each with file, line and field. Exit 0 when valid, 1
    otherwise.

    \b
    Examples:
      llmplan validate --env prod --format json
      llmplan validate environments/prod/models/support-bot.yaml environments/dev/
    """
    from planner import manager
    from planner.render import validation_document, validation_documents

    if env is None and not paths:
        raise click.UsageError("give --env ENV, or PATHs: files or folders under environments/<env>/")
    names = list(dict.fromkeys([*([env] if env else []), *environment_paths(root, paths)]))
    if not names:
        raise ConfigurationError(f"there is no environment under {root.resolve() / 'environments'}/ to validate")
    if len(names) == 1:
        REQUESTED["env"] = names[0]  # an error is then reported for that environment, as with --env
    valid: list[tuple[str, int, tuple[Problem, ...]]] = []
    failed: dict[str, ValidationFailed] = {}
    for name in names:
        try:
            environment, warnings = manager.validate_environment(root, name)
        except ValidationFailed as invalid:  # the other environments are still checked
            failed[name] = invalid
            continue
        warn(warnings)
        valid.append((name, len(environment.models), warnings))
    if output_format == "json" and not failed:
        emit(validation_document(*valid[0]) if len(valid) == 1 else validation_documents(valid))
    elif output_format != "json":
        for name, count, _ in valid:
            emit(f"{count} model{'s' if count != 1 else ''} valid in environment {name}")
    if len(failed) == 1:
        raise next(iter(failed.values()))
    if failed:
        raise ValidationFailed([problem for invalid in failed.values() for problem in invalid.problems], what=f"environments {', '.join(failed)} are not valid")


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
    from planner import manager
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
    from planner import manager
    from planner.render import render

    render(manager.read_plan_file(plan_file), output(), output_format, color=use_color(no_color))

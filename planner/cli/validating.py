"""validate: the offline check a pull request (and pre-commit) runs first."""

from __future__ import annotations

from pathlib import Path

import click

from planner.app.environments import validate_environment
from planner.cli.options import CONTEXT, emit, env_option, format_option, root_option, warn
from planner.render.validation import validation_document


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
    environment, warnings = validate_environment(root, env)
    warn(warnings)
    count = len(environment.models)
    if output_format == "json":
        emit(validation_document(env, count, warnings))
    else:
        emit(f"{count} model{'s' if count != 1 else ''} valid in environment {env}")

"""validate: the offline check a pull request (and pre-commit) runs first."""

from __future__ import annotations

from pathlib import Path

import click

from planner.adapters.project import environment_paths
from planner.app.environments import validate_environments
from planner.cli.options import CONTEXT, REQUESTED, emit, env_option, format_option, paths_argument, root_option, warn
from planner.model.errors import ConfigurationError
from planner.render.validation import validation_document, validation_documents


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
    if env is None and not paths:
        raise click.UsageError("give --env ENV, or PATHs: files or folders under environments/<env>/")
    names = list(dict.fromkeys([*([env] if env else []), *environment_paths(root, paths)]))
    if not names:
        raise ConfigurationError(f"there is no environment under {root.resolve() / 'environments'}/ to validate")
    if len(names) == 1:
        REQUESTED["env"] = names[0]  # an error is then reported for that environment, as with --env
    checked = validate_environments(root, names)
    valid = checked.valid
    for result in valid:
        warn(result.warnings)
    if output_format == "json" and checked.failure is None:
        emit(validation_document(valid[0].name, valid[0].models, valid[0].warnings) if len(valid) == 1 else validation_documents((v.name, v.models, v.warnings) for v in valid))
    elif output_format != "json":
        for result in valid:
            emit(f"{result.models} model{'s' if result.models != 1 else ''} valid in environment {result.name}")
    if checked.failure is not None:
        raise checked.failure

"""validate: the offline check a pull request (and pre-commit) runs first."""

from __future__ import annotations

import json
from pathlib import Path

import click

from planner.adapters.project import environment_paths
from planner.app.environments import Validation, select_environments, validate_environments
from planner.cli.options import CONTEXT, REQUESTED, Found, emit, format_option, paths_argument, root_option, warn
from planner.cli.selection import environments_options, refuse_all_with_others
from planner.model.errors import ConfigurationError
from planner.render.errors import error_document
from planner.render.validation import validation_document, validation_documents


@click.command(context_settings=CONTEXT)
@environments_options
@root_option
@format_option("text", "json")
@paths_argument
def validate(envs: tuple[str, ...], every: bool, changed_from: str | None, root: Path, output_format: str, paths: tuple[Path, ...]) -> Found:
    """Check environments' YAML offline: syntax, schema, policy, duplicates.

    Checks the environments --env names (repeatable; --all: every one;
    --changed-from GIT_REF: those with a file that differs from that ref),
    and each environment holding one of the PATHs (files or folders under
    environments/<env>/, as a pre-commit hook passes the changed files).
    Sends no request. Every problem of every environment is reported at
    once, each with file, line and field. Exit 0 when valid, 1 otherwise.

    \b
    Examples:
      llmplan validate --env prod --format json
      llmplan validate --changed-from origin/main
      llmplan validate environments/prod/models/support-bot.yaml environments/dev/
    """
    if not envs and not every and changed_from is None and not paths:
        raise click.UsageError("give --env ENV (repeatable), --all, --changed-from GIT_REF, or PATHs: files or folders under environments/<env>/")
    refuse_all_with_others(envs, every, changed_from)
    selected = select_environments(root, envs, every, changed_from) if envs or every or changed_from is not None else []
    names = list(dict.fromkeys([*selected, *environment_paths(root, paths)]))
    several = every or changed_from is not None or len(envs) > 1  # the report of several environments, whatever their number
    if not names:
        if changed_from is not None and not paths:
            emit(json.dumps({"valid": True, "environments": {}}, indent=2) if output_format == "json" else f"No environment has a file that differs from {changed_from}: nothing to validate.")
            return Found.NOTHING
        raise ConfigurationError(f"there is no environment under {root.resolve() / 'environments'}/ to validate")
    if len(names) == 1:
        REQUESTED["env"] = names[0]  # an error is then reported for that environment, as with --env
    checked = validate_environments(root, names)
    valid = checked.valid
    for result in valid:
        warn(result.warnings)
    if output_format == "json" and checked.failure is None:
        single = len(valid) == 1 and not several
        emit(validation_document(valid[0].name, valid[0].models, valid[0].warnings) if single else validation_documents((v.name, v.models, v.warnings) for v in valid))
    elif output_format != "json":
        for result in valid:
            emit(f"{result.models} model{'s' if result.models != 1 else ''} valid in environment {result.name}")
    if checked.failure is None:
        return Found.NOTHING
    if output_format == "json" and len(names) > 1:
        return _several_failed(checked)
    raise checked.failure


def _several_failed(checked: Validation) -> Found:
    """One JSON document for several environments, some broken: the error (every problem, as for one environment)
    and a member per environment, valid or not; the error on stderr as main() would say it."""
    failure = checked.failure
    assert failure is not None
    document = error_document(failure, command="validate", environment=None)
    members = {v.name: {"valid": True, "models": v.models, "problems": [], "warnings": [w.to_dict() for w in v.warnings]} for v in checked.valid}
    members.update({name: {"valid": False, "problems": [p.to_dict() for p in invalid.problems]} for name, invalid in checked.failed})
    document["environments"] = members
    emit(json.dumps(document, indent=2, ensure_ascii=False))
    emit(f"Error: {failure.message}", err=True)
    if failure.hint:
        emit(f"Hint: {failure.hint}", err=True)
    return Found.ERRORS

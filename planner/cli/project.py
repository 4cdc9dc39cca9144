"""fmt and version: the project's files in one layout, and what is installed."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import click

from planner import __version__
from planner.app.environments import select_environments
from planner.app.fmt import format_environments
from planner.cli.options import CONTEXT, Found, emit, format_option, paths_argument, root_option
from planner.cli.selection import refuse_all_with_others


@click.command(context_settings=CONTEXT)
@click.option("--env", "-e", "envs", multiple=True, metavar="ENV", help="Format only this environment (repeatable; default: all of them, or the PATHs given).")
@click.option("--all", "every", is_flag=True, help="Every environment under environments/ (what fmt does when nothing else is named).")
@click.option("--changed-from", metavar="GIT_REF", help="Also every environment with a file that differs from GIT_REF (committed since the merge base, uncommitted or untracked).")
@root_option
@click.option("--check", is_flag=True, help="Change nothing; list the files that are not formatted and exit 2 if there are any (for CI).")
@click.option("--diff", "show_diff", is_flag=True, help="Show the changes as a unified diff.")
@paths_argument
def fmt(envs: tuple[str, ...], every: bool, changed_from: str | None, root: Path, check: bool, show_diff: bool, paths: tuple[Path, ...]) -> Found:
    """Rewrite environment files in the canonical YAML layout, comments kept.

    Two-space indentation; model fields, temperatures and filter keys in the
    schema's order, each filter and the temperature matrix on one line; YAML
    1.1 booleans (yes, on, off, no) spelled true/false; text other YAML
    readers would misread quoted. A file is rewritten only if llmplan reads
    it back as the same data. Prints the files it changed (with --check, the
    ones it would change: exit 2 if any, 0 if none, 1 for a file it cannot
    read). PATHs (files or folders under environments/<env>/, as a pre-commit
    hook passes the changed files) limit it to those files.

    \b
    Examples:
      llmplan fmt
      llmplan fmt --check --diff
      llmplan fmt --check environments/prod/models/support-bot.yaml
      llmplan fmt --check --changed-from origin/main
    """
    refuse_all_with_others(envs, every, changed_from)
    if every:
        envs = tuple(select_environments(root, envs, every))
    elif changed_from is not None:
        envs = tuple(select_environments(root, envs, False, changed_from))
        if not envs and not paths:
            return Found.NOTHING  # no environment changed: nothing to format (not every environment)
    changed = format_environments(root, envs, check=check, paths=paths)
    for result in changed:
        emit(result.display)
        if show_diff:
            emit(result.diff().rstrip("\n"))
    return Found.CHANGES if check and changed else Found.NOTHING


@click.command(context_settings=CONTEXT)
@format_option("text", "json")
def version(output_format: str) -> None:
    """Show the version of llmplan, Python and the platform (also: llmplan --version).

    \b
    Example:
      llmplan version --format json
    """
    facts = {"llmplan_version": __version__, "python_version": platform.python_version(), "platform": f"{platform.system().lower()}_{platform.machine().lower()}"}
    if output_format == "json":
        emit(json.dumps(facts, indent=2))
    else:
        emit(f"llmplan {__version__}\non {facts['platform']}, Python {facts['python_version']}")

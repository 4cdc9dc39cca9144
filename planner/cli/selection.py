"""--env (repeatable), --all and --changed-from: the environments a read-only command covers, defined once.

Apart from :mod:`planner.cli.options` because resolving them loads the
project reader and Git's helpers, which ``llmplan --help`` need not load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import click

from planner.app.environments import select_environments
from planner.cli.options import REQUESTED, complete_environments, emit
from planner.model.fleet import EnvironmentResult


def _remember_envs(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    REQUESTED["env"] = value[0] if len(value) == 1 else None  # an error names the environment when there is one
    return value


def environments_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--env ENV (repeatable), --all, --changed-from GIT_REF: the environments a read-only command covers.
    One --env alone is the command as it always was; anything else gives one report with a section per environment."""
    func = click.option(
        "--changed-from",
        metavar="GIT_REF",
        help="Also every environment with a file under environments/<env>/ that differs from GIT_REF "
        "(committed since the merge base, uncommitted or untracked): what a pull request touches.",
    )(func)
    func = click.option("--all", "every", is_flag=True, help="Every environment under environments/.")(func)
    return click.option(
        "--env",
        "-e",
        "envs",
        multiple=True,
        metavar="ENV",
        callback=_remember_envs,
        shell_complete=complete_environments,
        help="Environment name: a folder under environments/ (repeatable).",
    )(func)


@dataclass(frozen=True)
class Selection:
    """The environments chosen, and whether the command runs as for one environment (a single --env)."""

    names: tuple[str, ...]
    single: bool


def refuse_all_with_others(envs: tuple[str, ...], every: bool, changed_from: str | None) -> None:
    if every and (envs or changed_from is not None):
        raise click.UsageError("--all covers every environment: give it without --env or --changed-from")


def select(root: Path, envs: tuple[str, ...], every: bool, changed_from: str | None) -> Selection:
    """Resolve --env/--all/--changed-from (usage errors as click reports them; a bad ref as llmplan's error)."""
    refuse_all_with_others(envs, every, changed_from)
    if not envs and not every and changed_from is None:
        raise click.UsageError("Missing option '--env' (or --all, or --changed-from GIT_REF).")
    if len(envs) == 1 and not every and changed_from is None:
        return Selection(envs, single=True)
    return Selection(tuple(select_environments(root, envs, every, changed_from)), single=False)


def report_failures(results: Sequence[EnvironmentResult[Any]], output_format: str) -> bool:
    """Say on stderr which environments failed (their errors are in their sections of the report); whether any did.

    In text the report on stdout already holds each error, so one line names them;
    for markdown and JSON, read by a machine or posted, stderr gets each error in full for the log.
    """
    failed = [result for result in results if result.error is not None]
    if not failed:
        return False
    if output_format == "text":
        names = ", ".join(result.environment for result in failed)
        emit(f"Error: {len(failed)} of {len(results)} environments failed: {names}; each error is in its section above", err=True)
        return True
    for result in failed:
        assert result.error is not None
        emit(f"Error: {result.environment}: {result.error.message}", err=True)
        if result.error.hint:
            emit(f"Hint: {result.error.hint}", err=True)
    return True

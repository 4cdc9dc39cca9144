"""report: a static HTML site of every environment's status, safety posture and history."""

from __future__ import annotations

from pathlib import Path

import click

from planner.adapters.outputs import prepare_site_folder
from planner.app.environments import select_environments
from planner.app.report import gather, write_report
from planner.cli.options import CONTEXT, emit, gateway_timeout_option, root_option
from planner.model.errors import LlmplanError
from planner.model.report import DEFAULT_DAYS
from planner.render.report import render_site


@click.command(context_settings=CONTEXT)
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), metavar="DIR", help="Folder to write the site to (made if missing; files an earlier report wrote there are replaced).")
@click.option("--env", "-e", "envs", multiple=True, metavar="ENV", help="An environment to report on (repeatable).")
@click.option("--all", "every", is_flag=True, help="Report on every environment under environments/.")
@click.option("--offline", is_flag=True, help="Do not read the gateway: show the last result `llmplan drift` remembered, and each model as last applied.")
@click.option("--days", type=click.IntRange(1, 3660), default=None, metavar="N", help="History of the last N days, counting today (default: 30).")
@gateway_timeout_option
@root_option
def report(out: Path, envs: tuple[str, ...], every: bool, offline: bool, days: int | None, gateway_timeout: float | None, root: Path) -> None:
    """Write a static HTML report: fleet status, safety posture, history.

    For people who do not run the CLI: a first page with every environment
    at a glance, problems first (models managed, last apply, drift now,
    safety weakened outside llmplan, lock holder, audit trail verified); a
    matrix of every model's safety settings per environment, coloured by
    strength; a timeline of changes per environment; and a page per model
    with each change as a field-level diff. Reads each environment's
    records and, unless --offline, the live gateway (as drift does; the
    result is remembered like drift's). The site loads nothing from the
    network: open DIR/index.html, upload it as a CI artifact or publish it.

    Exit 0 when every environment was read, 1 when one could not be read in
    full (the site is still written and names the problem) or on an error.

    \b
    Examples:
      llmplan report --out report --all
      llmplan report --out report --env prod --env staging --days 90
      llmplan report --out report --all --offline
    """
    if every and envs:
        raise click.UsageError("pass --env or --all, not both")
    names = select_environments(root, envs, every)
    prepare_site_folder(out)  # first, so a folder that cannot be written fails before anything is read
    gathered = gather(root, names, offline=offline, days=days or DEFAULT_DAYS, gateway_timeout=gateway_timeout)
    written = write_report(out, render_site(gathered))
    for environment in gathered.environments:
        for error in environment.errors:
            emit(f"Error: {environment.name}: {error}", err=True)
    emit(f"Report of {len(gathered.environments)} environment{'s' if len(gathered.environments) != 1 else ''} written to {out / 'index.html'} ({written} files).")
    if gathered.failed:
        raise LlmplanError("some environments could not be read in full; the report names what is missing")

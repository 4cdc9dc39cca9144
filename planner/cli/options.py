"""Options shared by several commands, defined once, and the few terminal helpers they need."""

from __future__ import annotations

import enum
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

import click

from planner.adapters.project import find_root, list_environments
from planner.model.printable import printable
from planner.model.settings import display_path
from planner.render.charset import for_stream, to_ascii, wants_ascii

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

# What the running command asked for, so that main() can report an error in
# the format the caller reads (a PR comment, a JSON consumer) and name the
# environment. Set by option callbacks; one command runs per process.
REQUESTED: dict[str, Any] = {}


def _remember(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        REQUESTED[key] = value
        return value

    return callback


def _project_root(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path:
    """--root or LLMPLAN_ROOT as given; otherwise the nearest folder holding
    environments/ from the current directory up (as git finds .git), else the
    current directory (whose missing environments/ the error then names)."""
    if value is not None:
        return value
    return find_root(Path.cwd()) or Path.cwd()


def root_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--root",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="LLMPLAN_ROOT",
        default=None,
        callback=_project_root,
        show_default="$LLMPLAN_ROOT, else the nearest folder holding environments/ from the current one up",
        help="Project folder holding environments/ and state/.",
    )(func)


def complete_environments(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of --env: the environments of the project."""
    given = ctx.params.get("root")
    root = Path(given) if given else find_root(Path.cwd())
    return [name for name in list_environments(root) if name.startswith(incomplete)] if root is not None else []


def env_option(func: Callable[..., Any] | None = None, *, required: bool = True) -> Any:
    """--env ENV; ``env_option(required=False)`` where PATH arguments can name the environments instead."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        return click.option(
            "--env",
            "-e",
            "env",
            required=required,
            metavar="ENV",
            callback=_remember("env"),
            shell_complete=complete_environments,
            help="Environment name: a folder under environments/." if required else "Environment name: a folder under environments/ (or give PATHs).",
        )(func)

    return decorate(func) if func is not None else decorate


def paths_argument(func: Callable[..., Any]) -> Callable[..., Any]:
    """[PATH]...: files or folders inside environments/<env>/, as pre-commit passes the changed files."""
    return click.argument("paths", nargs=-1, metavar="[PATH]...", type=click.Path(path_type=Path))(func)


def format_option(*choices: str) -> Decorator:
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        return click.option(
            "--format",
            "output_format",
            type=click.Choice(choices),
            default=choices[0],
            show_default=True,
            callback=_remember("format"),
            is_eager=True,  # known before any other option can fail, so even that error comes in this format
            help="Output format (errors are reported in it too).",
        )(func)

    return decorate


def parallelism_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--parallelism",
        type=click.IntRange(1, 64),
        default=None,
        help="Concurrent requests to the gateway (default: the environment's apply.parallelism, else 10).",
    )(func)


def no_color_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--no-color", is_flag=True, help="Plain text even on a terminal (NO_COLOR is honoured too).")(func)


def lock_timeout_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--lock-timeout",
        type=click.FloatRange(min=0),
        default=0.0,
        show_default=True,
        metavar="SECONDS",
        help="Wait this long for another command's lock on the state.",
    )(func)


def gateway_timeout_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--gateway-timeout",
        type=click.FloatRange(min=0, min_open=True, max=600),
        default=None,
        metavar="SECONDS",
        help="How long to keep trying to reach a gateway that does not answer (default: the environment's gateway.timeout_seconds, else 30).",
    )(func)


def use_color(no_color: bool = False) -> bool:
    """Color only for a person at a terminal, and never with NO_COLOR set."""
    return not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()


def output(*, err: bool = False) -> Any:
    """Where renderers write: stdout (or stderr) as it is, or with ASCII arrows
    when it cannot show UTF-8 (planner.render.charset decides)."""
    return for_stream(sys.stderr if err else sys.stdout)


def emit(text: str, *, err: bool = False) -> None:
    """One line for the user: control characters shown escaped (never obeyed by the terminal),
    and through the same charset decision as :func:`output`."""
    stream = sys.stderr if err else sys.stdout
    text = printable(text, newlines=True)
    if wants_ascii(stream):
        text = to_ascii(text, getattr(stream, "encoding", None) or "ascii")
    click.echo(text, err=err)


def warn(warnings: Iterable[object]) -> None:
    for warning in warnings:
        emit(f"Warning: {warning}", err=True)


def display(path: Path | None, root: Path) -> str:
    return display_path(path, root.resolve()) if path is not None else ""


class Found(enum.Enum):
    """What a command found, for main() to turn into the exit code (Terraform's -detailed-exitcode)."""

    NOTHING = "nothing to report"
    CHANGES = "changes or drift present"
    ERRORS = "an error, already reported"  # several environments, one failed: every one was shown, then exit 1

"""The ``llmplan`` command line: parsing, prompts, output and exit codes.

Only wiring lives here.  Each command calls one function of
``planner.manager`` and renders what it returns.  Heavy modules (requests,
jsonschema, deepdiff) are imported inside commands so ``--help`` and
``--version`` stay fast.  Errors become exit codes in :func:`main`, and only
there.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import click

from planner import __version__
from planner.errors import EXIT_ERROR, LlmplanError, ValidationFailed

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# --- shared options, defined once -----------------------------------------


def root_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--root",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="LLMPLAN_ROOT",
        default=".",
        show_default="current directory, or $LLMPLAN_ROOT",
        help="Project folder holding environments/ and state/.",
    )(func)


def env_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--env", "-e", "env", required=True, metavar="ENV", help="Environment name: a folder under environments/.")(func)


def format_option(*choices: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        return click.option(
            "--format",
            "output_format",
            type=click.Choice(choices),
            default=choices[0],
            show_default=True,
            help="Output format.",
        )(func)

    return decorate


def emit(text: str, *, err: bool = False) -> None:
    click.echo(text, err=err)


# --- the commands ----------------------------------------------------------


class LazyGroup(click.Group):
    """A group whose rarely used subcommands are imported only when called,
    keeping start-up fast."""

    lazy_commands = {"sandbox": "planner.sandbox.commands:sandbox"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy_commands and name not in self.commands:
            import importlib

            module, attribute = self.lazy_commands[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings=CONTEXT)
@click.version_option(__version__, "--version", "-V", prog_name="llmplan", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, envvar="LLMPLAN_DEBUG", help="Show tracebacks and request logs (secrets masked).")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Plan and apply LLM gateway model configuration as code.

    The desired configuration of each environment lives in
    environments/<env>/ as YAML; llmplan shows what would change (plan),
    changes it (apply) and reports changes made behind Git's back (drift).

    \b
    Exit codes: 0 success / no changes, 1 error, 2 changes or drift present.

    \b
    Example:
      llmplan validate --env dev
      llmplan plan --env prod --format markdown --out plan.json
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


@cli.command(context_settings=CONTEXT)
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
    from planner import manager

    try:
        environment = manager.load_environment(root, env)
    except ValidationFailed as failure:
        if output_format == "json":
            emit(json.dumps({"environment": env, "valid": False, "problems": [p.to_dict() for p in failure.problems]}, indent=2))
            raise SystemExit(EXIT_ERROR) from None
        raise
    count = len(environment.models)
    if output_format == "json":
        emit(json.dumps({"environment": env, "valid": True, "models": count, "problems": []}, indent=2))
    else:
        emit(f"{count} model{'s' if count != 1 else ''} valid in environment {env}")


# --- errors become exit codes here, and only here ---------------------------


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script; never lets a traceback reach a user
    for an expected failure."""
    debug = bool(os.environ.get("LLMPLAN_DEBUG")) or "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        code = cli.main(args=argv, prog_name="llmplan", standalone_mode=False)
    except LlmplanError as error:
        if debug:
            import traceback

            traceback.print_exc()
        emit(f"Error: {error.message}", err=True)
        if error.hint:
            emit(f"Hint: {error.hint}", err=True)
        code = error.exit_code
    except click.exceptions.Abort:
        emit("Aborted.", err=True)
        code = EXIT_ERROR
    except click.ClickException as error:
        # click uses exit 2 for usage errors; 2 means "changes present" here,
        # so a typo in a cron job's flags must not look like drift.
        error.show()
        code = EXIT_ERROR
    except KeyboardInterrupt:
        emit("Interrupted.", err=True)
        code = 130
    except BrokenPipeError:
        code = EXIT_ERROR
    sys.exit(code if isinstance(code, int) else 0)

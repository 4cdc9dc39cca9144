"""The ``llmplan`` group and :func:`main`, where every outcome becomes an exit code.

Commands return what they found (:class:`~planner.cli.options.Found`) or
raise a :class:`~planner.errors.LlmplanError`; only :func:`main` turns either
into an exit code, and reports an error in the format the command was asked
to print (JSON diagnostics on stdout for ``--format json``, a ready PR
comment for ``--format markdown``), so a machine reader or a PR comment is
never left with nothing.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import click

from planner import __version__
from planner.cli import applying, drifting, planning, project, records
from planner.cli.options import CONTEXT, REQUESTED, Found, emit, output
from planner.errors import EXIT_CHANGES, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, LlmplanError, TerminationRequested


class LazyGroup(click.Group):
    """A group whose rarely used subcommands are imported only when called,
    keeping start-up fast."""

    lazy_commands = {"sandbox": "planner.sandbox.commands:sandbox", "report": "planner.cli.report:report"}

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
    REQUESTED["command"] = ctx.invoked_subcommand or "llmplan"
    configure_logging(debug)


for command in (
    planning.validate,
    planning.plan,
    planning.show,
    applying.apply,
    drifting.drift,
    drifting.refresh,
    drifting.import_command,
    records.state,
    records.force_unlock,
    records.audit,
    records.governance,
    project.fmt,
    project.version,
):
    cli.add_command(command)


def configure_logging(debug: bool) -> None:
    """llmplan's loggers (``llmplan.gateway``, ``llmplan.governance``,
    ``llmplan.sandbox``) write to stderr: warnings always, every request with
    --debug (the gateway client masks credentials in what it logs)."""
    import logging

    from planner.printable import PrintableFormatter

    class CurrentStderr(logging.StreamHandler):
        """Writes to whatever sys.stderr is now (it is swapped in tests and by click)."""

        @property
        def stream(self) -> Any:
            return sys.stderr

        @stream.setter
        def stream(self, value: Any) -> None:
            pass

    logger = logging.getLogger("llmplan")
    if not any(type(handler).__name__ == "CurrentStderr" for handler in logger.handlers):
        handler = CurrentStderr()
        handler.setFormatter(PrintableFormatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)


def report_error(error: LlmplanError) -> None:
    """The message and hint on stderr; for --format json or markdown, also the
    error in that format on stdout, where the caller reads."""
    output_format = REQUESTED.get("format")
    if output_format in ("json", "markdown"):
        from planner.render.errors import render_error

        render_error(error, output(), output_format, command=REQUESTED.get("command", "llmplan"), environment=REQUESTED.get("env"))
        sys.stdout.flush()
    emit(f"Error: {error.message}", err=True)
    if error.hint:
        emit(f"Hint: {error.hint}", err=True)


def report_usage_error(error: click.ClickException, args: list[str]) -> None:
    """click's own message on stderr, as always; for --format json or markdown
    also a diagnostic on stdout, even when the options could not be parsed
    (then the format is read from the arguments as written)."""
    output_format = REQUESTED.get("format") or requested_format(args)
    if output_format in ("json", "markdown"):
        command = REQUESTED.get("command", "llmplan")
        hint = f"see `llmplan {command} --help`" if command != "llmplan" else "see `llmplan --help`"
        from planner.render.errors import render_error

        render_error(LlmplanError(error.format_message(), hint=hint), output(), output_format, command=command, environment=REQUESTED.get("env"))
        sys.stdout.flush()
    error.show()


def requested_format(args: list[str]) -> str | None:
    """The --format value as written, for an error raised before options are parsed."""
    for index, arg in enumerate(args):
        value = arg.partition("=")[2] if arg.startswith("--format=") else args[index + 1] if arg == "--format" and index + 1 < len(args) else None
        if value in ("json", "markdown"):
            return value
    return None


def _terminate_like_ctrl_c(signum: int, frame: object) -> None:
    """SIGTERM (what CI sends on cancel) becomes the first Ctrl-C: once.

    A second SIGTERM while the first is being honoured (requests in flight
    finishing, records being committed) is ignored; SIGKILL remains.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise TerminationRequested()


def _handle_sigterm(handler: Any) -> Any:
    """Install ``handler`` for SIGTERM (only the main thread may); the one it replaces."""
    try:
        return signal.signal(signal.SIGTERM, handler if handler is not None else signal.SIG_DFL)
    except ValueError:  # not the main thread (an embedding program): leave SIGTERM alone
        return None


def _interrupt_code(interrupt: BaseException) -> int:
    if isinstance(interrupt, TerminationRequested):
        emit("Terminated.", err=True)
        return EXIT_TERMINATED
    emit("Interrupted.", err=True)
    return EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script; never lets a traceback reach a user
    for an expected failure."""
    args = sys.argv[1:] if argv is None else argv
    debug = bool(os.environ.get("LLMPLAN_DEBUG")) or "--debug" in args
    REQUESTED.clear()
    previous = _handle_sigterm(_terminate_like_ctrl_c)
    try:
        found = cli.main(args=argv, prog_name="llmplan", standalone_mode=False)
        code = EXIT_CHANGES if found is Found.CHANGES else EXIT_OK
    except LlmplanError as error:
        if debug:
            import traceback

            traceback.print_exc()
        report_error(error)
        code = error.exit_code
    except click.exceptions.Abort as abort:
        # click turns a Ctrl-C anywhere in a command into Abort (`raise Abort() from e`);
        # at a prompt it hides the cause (`from None`), but a SIGTERM there is still a SIGTERM
        if isinstance(abort.__cause__, KeyboardInterrupt) or isinstance(abort.__context__, TerminationRequested):
            code = _interrupt_code(abort.__cause__ or abort.__context__)  # type: ignore[arg-type]
        else:
            emit("Aborted.", err=True)
            code = EXIT_ERROR
    except click.ClickException as error:
        # click uses exit 2 for usage errors; 2 means "changes present" here,
        # so a typo in a cron job's flags must not look like drift.
        report_usage_error(error, args)
        code = EXIT_ERROR
    except click.exceptions.Exit as done:  # --help, --version
        code = done.exit_code
    except KeyboardInterrupt as interrupt:
        code = _interrupt_code(interrupt)
    except BrokenPipeError:
        code = EXIT_ERROR
    finally:
        _handle_sigterm(previous)
    sys.exit(code)

"""The ``llmplan`` group and :func:`main`, where every outcome becomes an exit code.

Commands return what they found (:class:`~planner.cli.options.Found`) or
raise a :class:`~planner.model.errors.LlmplanError`; only :func:`main` turns either
into an exit code, and reports an error in the format the command was asked
to print (JSON diagnostics on stdout for ``--format json``, a ready PR
comment for ``--format markdown``), so a machine reader or a PR comment is
never left with nothing.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import traceback
from typing import Any

import click

from planner import __version__
from planner.adapters.waiting import INTERRUPT_GRACE_SECONDS, cancel_everything, cancel_everything_after
from planner.cli.options import CONTEXT, REQUESTED, Found, emit, output
from planner.model.errors import EXIT_CHANGES, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, LlmplanError, TerminationRequested
from planner.model.printable import PrintableFormatter
from planner.render.errors import render_error

# Every command, where it lives, and the line ``llmplan --help`` shows for it. A command's
# module is imported only when the command runs: ``--help`` and ``--version`` load none of
# them, and ``validate`` does not load the HTTP client.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("planner.cli.validating:validate", "Check environments' YAML offline: syntax, schema, policy, duplicates."),
    "plan": ("planner.cli.planning:plan", "Show what apply would change: desired YAML against the live gateway."),
    "show": ("planner.cli.planning:show", "Render saved plan files (each checked against its checksum first)."),
    "apply": ("planner.cli.applying:apply", "Make the live gateway match the YAML, recording every outcome."),
    "drift": ("planner.cli.drifting:drift", "Report where the live gateway differs from the YAML (for cron)."),
    "refresh": ("planner.cli.drifting:refresh", "Record the live configuration of managed models in state."),
    "import": ("planner.cli.drifting:import_command", "Adopt live configurations into YAML: write models/<name>.yaml."),
    "state": ("planner.cli.records:state", "Inspect and edit the recorded state of an environment."),
    "force-unlock": ("planner.cli.records:force_unlock", "Remove a stale lock left by a process that no longer runs."),
    "audit": ("planner.cli.records:audit", "Check and read the hash-chained audit trail of an environment."),
    "governance": ("planner.cli.records:governance", "Governance webhook deliveries (signed events after each applied change)."),
    "report": ("planner.cli.report:report", "Write a static HTML site: fleet status, safety posture, history."),
    "fmt": ("planner.cli.project:fmt", "Rewrite environment files in the canonical YAML layout, comments kept."),
    "version": ("planner.cli.project:version", "Show the version of llmplan, Python and the platform (also: llmplan --version)."),
    "sandbox": ("planner.cli.sandbox:sandbox", "Run the built-in sandbox gateway (a local stand-in for the real API)."),
}


class LazyGroup(click.Group):
    """The ``llmplan`` group: commands are imported when called, their help lines come from :data:`COMMANDS`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS and name not in self.commands:
            module, attribute = COMMANDS[name][0].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


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


def configure_logging(debug: bool) -> None:
    """llmplan's loggers (``llmplan.gateway``, ``llmplan.governance``,
    ``llmplan.sandbox``) write to stderr: warnings always, every request with
    --debug (the gateway client masks credentials in what it logs)."""
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
    _cut_outside_waits_soon("terminated (SIGTERM)")
    raise TerminationRequested()


_interrupted = False
NOTHING_TO_FINISH = frozenset({"plan", "drift", "show", "validate", "fmt", "version"})  # interrupted: cut at once, no grace


def _interrupt(signum: int, frame: object) -> None:
    """Ctrl-C, as Python's own handler (KeyboardInterrupt, every time); the second one cuts everything at once."""
    global _interrupted
    if _interrupted:
        cancel_everything("interrupted (Ctrl-C twice)")
    else:
        _cut_outside_waits_soon("interrupted (Ctrl-C)")
    raise KeyboardInterrupt()


def _cut_outside_waits_soon(reason: str) -> None:
    """Whatever the command waits on, it ends within seconds: the main thread unwinds
    (KeyboardInterrupt), and after a short grace for the requests in flight every
    exchange and wait of the gateway client and the governance notifier is cut, so
    no worker thread can hold the exit (a gateway or receiver that trickles, a
    backoff, a rate-limit window)."""
    global _interrupted
    if _interrupted:
        return
    _interrupted = True
    if REQUESTED.get("command") in NOTHING_TO_FINISH:
        cancel_everything(reason)  # nothing in flight is worth finishing
    else:
        cancel_everything_after(INTERRUPT_GRACE_SECONDS + 0.5, reason)  # after the apply engine's own grace


def _handle_sigterm(handler: Any) -> Any:
    """Install ``handler`` for SIGTERM (only the main thread may); the one it replaces."""
    return _handle(signal.SIGTERM, handler)


def _handle(signum: int, handler: Any) -> Any:
    try:
        return signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    except ValueError:  # not the main thread (an embedding program): leave the signal alone
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
    global _interrupted
    _interrupted = False
    previous = _handle_sigterm(_terminate_like_ctrl_c)
    previous_int = _handle(signal.SIGINT, _interrupt) if signal.getsignal(signal.SIGINT) is signal.default_int_handler else None
    try:
        found = cli.main(args=argv, prog_name="llmplan", standalone_mode=False)
        code = EXIT_ERROR if found is Found.ERRORS else EXIT_CHANGES if found is Found.CHANGES else EXIT_OK
    except LlmplanError as error:
        if debug:
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
        if previous_int is not None:
            _handle(signal.SIGINT, previous_int)
    sys.exit(code)

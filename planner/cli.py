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


def parallelism_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--parallelism",
        type=click.IntRange(1, 64),
        default=None,
        help="Concurrent requests to the gateway (default: the environment's apply.parallelism, else 10).",
    )(func)


def no_color_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--no-color", is_flag=True, help="Plain text even on a terminal (NO_COLOR is honoured too).")(func)


def use_color(no_color: bool = False) -> bool:
    """Color only for a person at a terminal, and never with NO_COLOR set."""
    return not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()


def lock_timeout_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--lock-timeout", type=click.FloatRange(min=0), default=0.0, show_default=True, metavar="SECONDS", help="Wait this long for another command's lock on the state.")(func)


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
    configure_logging(debug)


def configure_logging(debug: bool) -> None:
    """llmplan's loggers (``llmplan.gateway``, ``llmplan.governance``,
    ``llmplan.sandbox``) write to stderr: warnings always, every request with
    --debug (the gateway client masks credentials in what it logs)."""
    import logging

    class CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
        """Writes to whatever sys.stderr is now (it is swapped in tests and by click)."""

        @property  # type: ignore[override]
        def stream(self) -> Any:
            return sys.stderr

        @stream.setter
        def stream(self, value: Any) -> None:
            pass

    logger = logging.getLogger("llmplan")
    if not any(type(handler).__name__ == "CurrentStderr" for handler in logger.handlers):
        handler = CurrentStderr()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)


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
    from planner.errors import EnvironmentNotFound, Problem

    try:
        environment = manager.load_environment(root, env)
    except (ValidationFailed, EnvironmentNotFound) as failure:
        if output_format == "json":
            # CI annotations read stdout: an unknown environment is a problem too, not silence
            problems = failure.problems if isinstance(failure, ValidationFailed) else (Problem("environments/", None, "", failure.message),)
            emit(json.dumps({"environment": env, "valid": False, "problems": [p.to_dict() for p in problems]}, indent=2))
            raise SystemExit(EXIT_ERROR) from None
        raise
    count = len(environment.models)
    if output_format == "json":
        emit(json.dumps({"environment": env, "valid": True, "models": count, "problems": []}, indent=2))
    else:
        emit(f"{count} model{'s' if count != 1 else ''} valid in environment {env}")


@cli.command(context_settings=CONTEXT)
@env_option
@root_option
@format_option("text", "markdown", "json")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), help="Save the plan to FILE for `llmplan apply FILE`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes (0 none, 1 error), as Terraform does.")
@click.option("--target", "targets", multiple=True, metavar="ADDRESS", help="Plan only this model address (repeatable).")
@parallelism_option
@no_color_option
def plan(env: str, root: Path, output_format: str, out_file: Path | None, detailed_exitcode: bool, targets: tuple[str, ...], parallelism: int | None, no_color: bool) -> int:
    """Show what apply would change: desired YAML against the live gateway.

    Validates the environment, fetches the live configuration and the
    models' capabilities, and prints field-level changes. Changes made on the
    gateway outside llmplan since the last apply are listed separately.

    \b
    Examples:
      llmplan plan --env dev
      llmplan plan --env prod --format markdown --out plan.json --detailed-exitcode
    """
    from planner import manager
    from planner.errors import EXIT_CHANGES, EXIT_OK
    from planner.render import render

    outcome = manager.make_plan(root, env, targets=targets, parallelism=parallelism)
    if out_file is not None:
        manager.write_plan_file(outcome.plan, out_file)
    render(outcome.plan, sys.stdout, output_format, color=use_color(no_color))
    if out_file is not None:
        emit(f"Saved the plan to {out_file}; apply exactly this plan with: llmplan apply {out_file}", err=True)
    return EXIT_CHANGES if detailed_exitcode and outcome.plan.has_changes else EXIT_OK


@cli.command(context_settings=CONTEXT)
@click.argument("plan_file", type=click.Path(dir_okay=False, path_type=Path))
@format_option("text", "markdown", "json")
@no_color_option
def show(plan_file: Path, output_format: str, no_color: bool) -> None:
    """Render a saved plan file (checked against its checksum first).

    \b
    Example:
      llmplan show plan.json --format markdown
    """
    from planner import manager
    from planner.render import render

    render(manager.read_plan_file(plan_file), sys.stdout, output_format, color=use_color(no_color))


class Progress:
    """Apply progress on stderr: a live counter on a terminal, a line per
    model otherwise (CI logs)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.live = sys.stderr.isatty()
        self._line_open = False
        self.restart_clock()

    def restart_clock(self) -> None:
        """Count the rate from now: the time someone spent reading the plan is not apply time."""
        import time

        self.started = time.monotonic()

    def __call__(self, outcome: Any) -> None:
        import time

        self.done += 1
        self.failed += outcome.status == "failure"
        if self.live:
            rate = self.done / max(time.monotonic() - self.started, 1e-6)
            sys.stderr.write(f"\r  applied {self.done}/{self.total}  {rate:.1f}/s  {self.failed} failed ")
            sys.stderr.flush()
            self._line_open = True
            if self.done == self.total:
                self.close()
        else:
            detail = f" ({outcome.error_code}: {outcome.error_message})" if outcome.error_message else ""
            version = f" → version {outcome.version}" if outcome.version is not None else ""
            emit(f"  {outcome.status:8} {outcome.action} {outcome.address}{version}{detail}", err=True)

    def close(self) -> None:
        """End the live line, so what follows (an error after a failure or Ctrl-C) starts on a line of its own."""
        if self._line_open:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._line_open = False


def confirm_on_terminal(plan: Any) -> bool:
    """Terraform's rule: only the word 'yes' applies; no terminal, no apply."""
    from planner.errors import Aborted

    if not sys.stdin.isatty():
        raise Aborted("apply needs confirmation but there is no terminal", hint="review the plan and pass --auto-approve, or apply a saved plan file")
    answer = click.prompt(
        f"\nDo you want to apply these changes to environment {plan.environment}?\n  Only 'yes' will be accepted",
        default="",
        show_default=False,
    )
    return answer.strip() == "yes"


def confirm_weakening_on_terminal(changes: Any) -> bool:
    """``apply.weakening: confirm``: the weakenings get a question of their own."""
    from planner.errors import Aborted
    from planner.safety import describe_weakenings

    listing = "".join(f"\n  {line}" for line in describe_weakenings(changes))
    if not sys.stdin.isatty():
        raise Aborted(f"this plan weakens safety and apply.weakening is confirm, but there is no terminal to ask:{listing}", hint="review each weakening and re-run with --allow-weakening")
    answer = click.prompt(f"\nThese changes weaken safety:{listing}\nDo you want to apply the weakenings too?\n  Only 'yes' will be accepted", default="", show_default=False)
    return answer.strip() == "yes"


@cli.command(context_settings=CONTEXT)
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--env", "-e", "env", metavar="ENV", help="Environment to plan and apply (not needed with PLAN_FILE).")
@root_option
@click.option("--auto-approve", is_flag=True, help="Apply without asking (for CI, after the plan was reviewed).")
@click.option("--force", is_flag=True, help="Apply even if more models change than apply.max_change_percent allows.")
@click.option("--fail-fast", is_flag=True, help="Stop scheduling new changes after the first failure.")
@click.option("--allow-weakening", is_flag=True, help="Apply changes that weaken a model's safety (apply.weakening refuse or confirm); recorded with who allowed them.")
@lock_timeout_option
@parallelism_option
@no_color_option
def apply(plan_file: Path | None, env: str | None, root: Path, auto_approve: bool, force: bool, fail_fast: bool, allow_weakening: bool, lock_timeout: float, parallelism: int | None, no_color: bool) -> None:
    """Make the live gateway match the YAML, recording every outcome.

    With PLAN_FILE, applies exactly that reviewed plan, or refuses it if the
    state or any live configuration moved since. Without it, plans now,
    shows the plan and asks for 'yes' (or --auto-approve). Each change is one
    atomic PUT; state, audit trail and governance outbox are written as each
    one finishes. A change that weakens a model's safety needs the yes that
    apply.weakening asks for (refuse: --allow-weakening; confirm: a 'yes' of
    its own on a terminal, or --allow-weakening). Exit 0 when all succeeded,
    1 if any failed (re-run to finish).

    \b
    Examples:
      llmplan apply --env dev
      llmplan apply plan.json --auto-approve
    """
    from planner import manager
    from planner.errors import ApplyFailed
    from planner.metrics import render_text as metrics_text
    from planner.render import render

    color = use_color(no_color)
    progress: dict[str, Progress] = {}

    def show_plan(plan: Any) -> None:
        render(plan, sys.stdout, "text", color=color)
        progress[""] = Progress(len(plan.actionable))

    def on_outcome(outcome: Any) -> None:
        progress[""](outcome)

    def confirm(plan: Any) -> bool:
        approved = True if auto_approve else confirm_on_terminal(plan)
        progress[""].restart_clock()
        return approved

    def confirm_weakening(changes: Any) -> bool:
        approved = confirm_weakening_on_terminal(changes)
        progress[""].restart_clock()
        return approved

    try:
        result = manager.apply(
            root,
            plan_file=plan_file,
            env_name=env,
            parallelism=parallelism,
            force=force,
            fail_fast=fail_fast,
            lock_timeout=lock_timeout,
            show_plan=show_plan,
            confirm=confirm,
            on_outcome=on_outcome,
            allow_weakening=allow_weakening,
            confirm_weakening=confirm_weakening,
        )
    finally:
        if "" in progress:
            progress[""].close()
    if result.repair_note:
        emit(f"Note: {result.repair_note}", err=True)
    for entry in result.reconciled:
        emit(f"Note: an interrupted earlier apply was settled for {entry.get('address')}: {entry['status']}", err=True)
    for warning in result.warnings:
        emit(f"Warning: {warning}", err=True)
    if result.announced:
        emit(f"Note: queued the governance event(s) an interrupted earlier apply had not sent: {', '.join(result.announced)}", err=True)
    if not result.plan.has_changes:
        emit("No changes. Nothing to apply." + (f" Recorded {result.refreshed} live configuration(s) in state." if result.refreshed else ""))
        return
    succeeded = [o for o in result.outcomes if o.status == "success"]
    emit(f"\nApply complete: {len(succeeded)} succeeded, {len(result.failures)} failed, {len(result.skipped)} not attempted.")
    if result.summary is not None and result.summary.updates:
        emit(metrics_text(result.summary))
    if result.undelivered:
        emit(f"Governance: {result.undelivered} event(s) not delivered yet, kept in the outbox; run `llmplan governance flush --env {result.plan.environment}`.", err=True)
    if result.failures or result.skipped:
        listing = "; ".join(f"{o.address}: {o.error_message or o.status}" for o in [*result.failures, *result.skipped])
        raise ApplyFailed(
            f"{len(result.failures)} change(s) failed and {len(result.skipped)} were not attempted ({listing})",
            hint=f"the successful changes are applied and recorded; fix the cause and run `llmplan apply --env {result.plan.environment}` again to finish",
        )


@cli.command(context_settings=CONTEXT)
@env_option
@root_option
@format_option("text", "markdown", "json")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), help="Also write the report to FILE (same format).")
@click.option("--fail-on-weakening", is_flag=True, help="Exit 2 only when safety was weakened outside llmplan (other drift is reported, exit 0).")
@parallelism_option
@no_color_option
def drift(env: str, root: Path, output_format: str, out_file: Path | None, fail_on_weakening: bool, parallelism: int | None, no_color: bool) -> int:
    """Report where the live gateway differs from the YAML (for cron).

    Tells apart "live changed outside llmplan" from "YAML changed but not
    applied", lists configured models no YAML names, and since when each
    difference is known. Safety weakened outside llmplan is reported first.
    Read-only: no lock, no prompt. Exit 0 no drift, 2 drift (with
    --fail-on-weakening: 2 only for a weakening), 1 error (an unreachable
    gateway is an error, never "no drift").

    \b
    Examples:
      llmplan drift --env prod --format json --out drift.json
      llmplan drift --env prod --fail-on-weakening
    """
    import io

    from planner import manager
    from planner.errors import EXIT_CHANGES, EXIT_OK
    from planner.render import render_drift

    report = manager.drift(root, env, parallelism=parallelism)
    if out_file is not None:  # first, so a path that cannot be written fails before any report is shown
        buffer = io.StringIO()
        render_drift(report, buffer, output_format)
        manager.write_output_file(out_file, buffer.getvalue(), what="drift report")
    render_drift(report, sys.stdout, output_format, color=use_color(no_color))
    return EXIT_CHANGES if (report.weakened_outside if fail_on_weakening else report.has_drift) else EXIT_OK


@cli.command(context_settings=CONTEXT)
@env_option
@root_option
@lock_timeout_option
def refresh(env: str, root: Path, lock_timeout: float) -> None:
    """Record the live configuration of managed models in state.

    Changes nothing on the gateway. Use it to accept a reviewed change made
    outside llmplan: edit the YAML to match, then refresh, and plan and
    drift no longer report it. Each recorded model gets an audit entry.

    \b
    Example:
      llmplan refresh --env dev
    """
    from planner import manager

    recorded = manager.refresh(root, env, lock_timeout=lock_timeout)
    for item in recorded:
        emit(f"  recorded {item.address} (version {item.version})")
    emit(f"Refresh complete: {len(recorded)} model(s) recorded in state." if recorded else "State already matches the live configuration.")


@cli.command("import", context_settings=CONTEXT)
@env_option
@root_option
@click.option("--model-id", "model_ids", multiple=True, metavar="ID", help="Import this live model (repeatable).")
@click.option("--all", "import_all", is_flag=True, help="Import every configured live model no YAML file names.")
@lock_timeout_option
def import_command(env: str, root: Path, model_ids: tuple[str, ...], import_all: bool, lock_timeout: float) -> None:
    """Adopt live configurations into YAML: write models/<name>.yaml.

    Writes one file per model (named after the model, never overwriting a
    file) in the canonical layout, and records it in state, so the next plan
    shows no change for it. Without --model-id or --all, lists what could be
    imported.

    \b
    Examples:
      llmplan import --env dev
      llmplan import --env dev --model-id b2c3d4e5-f6a7-4890-9bcd-ef1234567891
    """
    from planner import manager

    if model_ids and import_all:
        raise click.UsageError("pass --model-id or --all, not both")
    result = manager.import_models(root, env, model_ids=model_ids, import_all=import_all, lock_timeout=lock_timeout)
    if not model_ids and not import_all:
        if not result.candidates:
            emit(f"Nothing to import: every configured model on the gateway is managed by environment {env}.")
            return
        emit(f"{len(result.candidates)} configured model(s) on the gateway are in no YAML file of {env}:")
        for candidate in result.candidates:
            emit(f"  {candidate.model_id}  {candidate.name} (version {candidate.version})")
        emit(f"Import them with --model-id ID (repeatable) or --all.")
        return
    for item in result.imported:
        emit(f"  imported {item.name} ({item.model_id}) → {display(item.file, root)}")
    emit(f"Import complete: {len(result.imported)} model(s) written and recorded in state." if result.imported else "Nothing to import.")


def display(path: Path | None, root: Path) -> str:
    from planner.environment import display_path

    return display_path(path, root.resolve()) if path is not None else ""


@cli.group(context_settings=CONTEXT)
def state() -> None:
    """Inspect the recorded state of an environment.

    \b
    Example:
      llmplan state show --env prod
    """


@state.command("show", context_settings=CONTEXT)
@env_option
@root_option
@format_option("text", "json")
def state_show(env: str, root: Path, output_format: str) -> None:
    """Show what state holds: lineage, serial, models, lock holder.

    \b
    Example:
      llmplan state show --env dev --format json
    """
    from planner import manager

    view = manager.show_state(root, env)
    if output_format == "json":
        document = view.state.to_dict() if view.state is not None else None
        emit(json.dumps({"environment": env, "state": document, "lock": view.lock.to_dict() if view.lock else None, "warnings": list(view.warnings)}, indent=2, ensure_ascii=False))
        return
    for warning in view.warnings:
        emit(f"Warning: {warning}", err=True)
    if view.state is None:
        emit(f"No state for environment {env} yet (nothing applied).")
    else:
        emit(f"environment {env}: lineage {view.state.lineage}, serial {view.state.serial}, {len(view.state.resources)} model(s)")
        for address, resource in sorted(view.state.resources.items()):
            emit(f"  {address:30} {resource.model_id}  version {resource.version:<5} applied {resource.applied_at}")
    emit(f"locked: {view.lock.describe()}" if view.lock else "not locked")


@cli.command("force-unlock", context_settings=CONTEXT)
@env_option
@root_option
@click.argument("lock_id")
def force_unlock(env: str, root: Path, lock_id: str) -> None:
    """Remove a stale lock left by a process that no longer runs.

    The id is the one a refused command printed. A lock whose holder is
    still alive is never removed.

    \b
    Example:
      llmplan force-unlock --env prod 3f2c9a1e-…
    """
    from planner import manager

    manager.force_unlock(root, env, lock_id)
    emit(f"Lock {lock_id} of environment {env} removed.")


@cli.group(context_settings=CONTEXT)
def audit() -> None:
    """Check and read the hash-chained audit trail of an environment.

    \b
    Examples:
      llmplan audit verify --env prod
      llmplan audit show --env prod --format json
    """


@audit.command("verify", context_settings=CONTEXT)
@env_option
@root_option
@click.option("--repair", is_flag=True, help="Set aside a torn last line (from a crash) and record the repair.")
@lock_timeout_option
def audit_verify(env: str, root: Path, repair: bool, lock_timeout: float) -> None:
    """Check that no audit line was edited, removed, reordered or inserted.

    Exit 0 when the chain verifies, 1 naming the first bad line otherwise.

    \b
    Example:
      llmplan audit verify --env prod
    """
    from planner import manager
    from planner.errors import AuditError

    report, repaired = manager.verify_audit(root, env, repair=repair, lock_timeout=lock_timeout)
    if repaired is not None:
        emit(f"Repaired: moved a torn last line ({repaired.fragment_bytes} bytes) to {repaired.torn_path} and recorded the repair in the trail", err=True)
    if not report.ok:
        hint = f"run `llmplan audit verify --env {env} --repair` to set the torn line aside" if report.torn_tail else "restore the file from Git history or a backup; do not edit it by hand"
        raise AuditError(f"audit trail of {env} does not verify: {report.problem}", hint=hint)
    emit(f"audit trail of {env} verifies: {report.entries} entr{'y' if report.entries == 1 else 'ies'}, chain intact")


@audit.command("show", context_settings=CONTEXT)
@env_option
@root_option
@click.option("--model-id", help="Only entries of this model.")
@format_option("text", "json")
def audit_show(env: str, root: Path, model_id: str | None, output_format: str) -> None:
    """List audit entries, oldest first.

    \b
    Example:
      llmplan audit show --env prod --model-id a1b2c3d4-e5f6-7890-abcd-ef1234567890
    """
    from planner import manager

    entries = manager.audit_entries(root, env, model_id=model_id)
    if output_format == "json":
        emit(json.dumps(entries, indent=2, ensure_ascii=False))
        return
    for entry in entries:
        error = f"  {entry.get('error_code')}: {entry.get('error_message')}" if entry.get("status") == "failure" else ""
        emit(f"{entry.get('timestamp')}  {entry.get('action'):20} {entry.get('status'):8} {entry.get('address', '-')}{error}")
    if not entries:
        emit("no audit entries")


@cli.group(context_settings=CONTEXT)
def governance() -> None:
    """Governance webhook deliveries (signed events after each applied change).

    \b
    Example:
      llmplan governance flush --env prod
    """


@governance.command("flush", context_settings=CONTEXT)
@env_option
@root_option
@lock_timeout_option
def governance_flush(env: str, root: Path, lock_timeout: float) -> None:
    """Resend governance events that could not be delivered during apply.

    Exit 1 if some are still undelivered (they stay in the outbox).

    \b
    Example:
      llmplan governance flush --env prod
    """
    from planner import manager
    from planner.errors import LlmplanError

    result = manager.flush_governance(root, env, lock_timeout=lock_timeout)
    if result is None:
        emit(f"environment {env} has no governance webhook configured")
        return
    emit(f"governance: {result.delivered} delivered, {result.failed} failed, {result.remaining} still queued")
    if result.remaining:
        raise LlmplanError(f"{result.remaining} governance event(s) could not be delivered; they stay in the outbox", hint="check the webhook receiver and run governance flush again")


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
    except click.exceptions.Abort as abort:
        # click turns a Ctrl-C anywhere in a command into Abort (`raise Abort() from e`)
        interrupted = isinstance(abort.__cause__, KeyboardInterrupt)
        emit("Interrupted." if interrupted else "Aborted.", err=True)
        code = 130 if interrupted else EXIT_ERROR
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

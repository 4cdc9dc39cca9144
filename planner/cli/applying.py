"""apply: the one command that changes the gateway, with its prompts and progress."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Sequence

import click

from planner.app.apply import apply as apply_plan
from planner.cli.options import CONTEXT, emit, gateway_timeout_option, lock_timeout_option, no_color_option, output, parallelism_option, root_option, use_color
from planner.core.safety import describe_weakenings
from planner.model.audit import FAILURE
from planner.model.errors import Aborted
from planner.model.outcome import UNKNOWN, Outcome
from planner.model.plan import Plan, ResourceChange
from planner.render.plan import render
from planner.render.records import apply_report, outcome_line


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
        self.started = time.monotonic()

    def __call__(self, outcome: Outcome) -> None:
        self.done += 1
        self.failed += outcome.status in (FAILURE, UNKNOWN)
        if self.live:
            rate = self.done / max(time.monotonic() - self.started, 1e-6)
            sys.stderr.write(f"\r  applied {self.done}/{self.total}  {rate:.1f}/s  {self.failed} failed ")
            sys.stderr.flush()
            self._line_open = True
            if self.done == self.total:
                self.close()
        else:
            emit(outcome_line(outcome), err=True)

    def close(self) -> None:
        """End the live line, so what follows (an error after a failure or Ctrl-C) starts on a line of its own."""
        if self._line_open:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._line_open = False


class TerminalHooks:
    """:class:`~planner.app.hooks.ApplyHooks` for a person at a terminal or a CI log.

    Terraform's rule: only the word 'yes' applies; with no terminal, nothing
    is applied unless ``--auto-approve`` said so beforehand.
    """

    def __init__(self, *, color: bool, forced: bool, auto_approve: bool) -> None:
        self.color = color
        self.forced = forced
        self.auto_approve = auto_approve
        self.progress: Progress | None = None

    def plan_ready(self, plan: Plan) -> None:
        render(plan, output(), "text", color=self.color, forced=self.forced)
        self.progress = Progress(len(plan.actionable))

    def approve(self, plan: Plan) -> bool:
        approved = self.auto_approve or self._ask(
            f"\nDo you want to apply these changes to environment {plan.environment}?\n  Only 'yes' will be accepted",
            Aborted("apply needs confirmation but there is no terminal", hint="review the plan and pass --auto-approve, or apply a saved plan file"),
        )
        self._restart_clock()
        return approved

    def approve_weakenings(self, changes: Sequence[ResourceChange]) -> bool:
        """``apply.weakening: confirm``: the weakenings get a question of their own."""
        listing = "".join(f"\n  {line}" for line in describe_weakenings(changes))
        approved = self._ask(
            f"\nThese changes weaken safety:{listing}\nDo you want to apply the weakenings too?\n  Only 'yes' will be accepted",
            Aborted(f"this plan weakens safety and apply.weakening is confirm, but there is no terminal to ask:{listing}", hint="review each weakening and re-run with --allow-weakening"),
        )
        self._restart_clock()
        return approved

    def outcome(self, outcome: Outcome) -> None:
        if self.progress is not None:
            self.progress(outcome)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.close()

    def _restart_clock(self) -> None:
        if self.progress is not None:
            self.progress.restart_clock()

    @staticmethod
    def _ask(question: str, no_terminal: Aborted) -> bool:
        if not sys.stdin.isatty():
            raise no_terminal
        return bool(click.prompt(question, default="", show_default=False).strip() == "yes")


@click.command(context_settings=CONTEXT)
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--env", "-e", "env", metavar="ENV", help="Environment to plan and apply (not needed with PLAN_FILE).")
@root_option
@click.option("--auto-approve", is_flag=True, help="Apply without asking (for CI, after the plan was reviewed).")
@click.option("--force", is_flag=True, help="Apply even if more models change than apply.max_change_percent allows.")
@click.option("--fail-fast", is_flag=True, help="Stop scheduling new changes after the first failure.")
@click.option("--allow-weakening", is_flag=True, help="Apply changes that weaken a model's safety (apply.weakening refuse or confirm); recorded with who allowed them.")
@lock_timeout_option
@parallelism_option
@gateway_timeout_option
@no_color_option
def apply(plan_file: Path | None, env: str | None, root: Path, auto_approve: bool, force: bool, fail_fast: bool, allow_weakening: bool, lock_timeout: float, parallelism: int | None, gateway_timeout: float | None, no_color: bool) -> None:
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
    hooks = TerminalHooks(color=use_color(no_color), forced=force, auto_approve=auto_approve)
    try:
        result = apply_plan(
            root,
            hooks,
            plan_file=plan_file,
            env_name=env,
            parallelism=parallelism,
            force=force,
            fail_fast=fail_fast,
            lock_timeout=lock_timeout,
            allow_weakening=allow_weakening,
            gateway_timeout=gateway_timeout,
        )
    finally:
        hooks.close()
    report = apply_report(result)
    for line in report.notes:
        emit(line, err=True)
    for line in report.lines:
        emit(line)
    result.raise_if_incomplete()

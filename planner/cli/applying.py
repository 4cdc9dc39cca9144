"""apply: the one command that changes the gateway, with its prompt and progress."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from planner.cli.options import CONTEXT, emit, gateway_timeout_option, lock_timeout_option, no_color_option, output, parallelism_option, root_option, use_color

if TYPE_CHECKING:
    from planner.app.executor import Outcome
    from planner.model.plan import Plan


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

    def __call__(self, outcome: "Outcome") -> None:
        self.done += 1
        self.failed += outcome.status in ("failure", "unknown")
        if self.live:
            rate = self.done / max(time.monotonic() - self.started, 1e-6)
            sys.stderr.write(f"\r  applied {self.done}/{self.total}  {rate:.1f}/s  {self.failed} failed ")
            sys.stderr.flush()
            self._line_open = True
            if self.done == self.total:
                self.close()
        else:
            from planner.render.records import outcome_line

            emit(outcome_line(outcome), err=True)

    def close(self) -> None:
        """End the live line, so what follows (an error after a failure or Ctrl-C) starts on a line of its own."""
        if self._line_open:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._line_open = False


def confirm_on_terminal(plan: "Plan") -> bool:
    """Terraform's rule: only the word 'yes' applies; no terminal, no apply."""
    from planner.model.errors import Aborted

    if not sys.stdin.isatty():
        raise Aborted("apply needs confirmation but there is no terminal", hint="review the plan and pass --auto-approve, or apply a saved plan file")
    answer = click.prompt(
        f"\nDo you want to apply these changes to environment {plan.environment}?\n  Only 'yes' will be accepted",
        default="",
        show_default=False,
    )
    return bool(answer.strip() == "yes")


def confirm_weakening_on_terminal(changes: Any) -> bool:
    """``apply.weakening: confirm``: the weakenings get a question of their own."""
    from planner.model.errors import Aborted
    from planner.core.safety import describe_weakenings

    listing = "".join(f"\n  {line}" for line in describe_weakenings(changes))
    if not sys.stdin.isatty():
        raise Aborted(f"this plan weakens safety and apply.weakening is confirm, but there is no terminal to ask:{listing}", hint="review each weakening and re-run with --allow-weakening")
    answer = click.prompt(f"\nThese changes weaken safety:{listing}\nDo you want to apply the weakenings too?\n  Only 'yes' will be accepted", default="", show_default=False)
    return bool(answer.strip() == "yes")


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
    from planner.app import apply as operations
    from planner.render import render
    from planner.render.records import apply_report

    color = use_color(no_color)
    progress: list[Progress] = []

    def show_plan(plan: "Plan") -> None:
        render(plan, output(), "text", color=color, forced=force)
        progress.append(Progress(len(plan.actionable)))

    def on_outcome(outcome: "Outcome") -> None:
        progress[-1](outcome)

    def confirm(plan: "Plan") -> bool:
        approved = True if auto_approve else confirm_on_terminal(plan)
        progress[-1].restart_clock()
        return approved

    def confirm_weakening(changes: Any) -> bool:
        approved = confirm_weakening_on_terminal(changes)
        progress[-1].restart_clock()
        return approved

    try:
        result = operations.apply(
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
            gateway_timeout=gateway_timeout,
        )
    finally:
        for bar in progress:
            bar.close()
    report = apply_report(result)
    for line in report.notes:
        emit(line, err=True)
    for line in report.lines:
        emit(line)
    result.raise_if_incomplete()

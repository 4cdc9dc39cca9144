"""``llmplan apply``: lock → (saved plan: refuse if stale | plan now and ask) → weakenings allowed → PUTs → record.

Holds the environment's records through one
:class:`~planner.app.session.RecordsSession` (lock, repair, read, settle,
record, finish), so what a crash leaves behind is handled the same way
whichever command meets it next.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping

from planner import __version__
from planner.adapters.gateway.live import fetch_live
from planner.adapters.governance import Courier, build_event
from planner.adapters.identity import actor
from planner.adapters.metrics import ApplyMetrics, MetricsSummary, prometheus_text, write_textfile
from planner.adapters.outputs import read_plan_file
from planner.app.connections import fetch_and_check, gateway_client, notifier, open_records
from planner.app.environments import collector_paused, load_environment
from planner.app.executor import Executor, Recorder, raise_if_applied_before
from planner.app.hooks import ApplyHooks
from planner.app.plan import from_checkout
from planner.app.refreshing import refresh_unchanged
from planner.app.session import RecordsSession
from planner.app.settling import settle
from planner.core.planning import build_plan
from planner.core.safety import weakening_gate
from planner.model.audit import FAILURE, SUCCESS
from planner.model.clock import utc_now
from planner.model.errors import Aborted, ApplyFailed, ConfigurationError, StalePlan, StateError
from planner.model.outcome import SKIPPED, UNKNOWN, Outcome
from planner.model.plan import FORGET, Plan

log = logging.getLogger("llmplan.records")


@contextmanager
def _interrupt_first(interrupted: Callable[[], KeyboardInterrupt | None]) -> Iterator[None]:
    """Around the records session: once Ctrl-C or SIGTERM stopped the apply, a state that could not be
    committed (the database was cut with everything else) is a warning, and the interrupt is what the user hears."""
    try:
        yield
    except StateError as failure:
        if interrupted() is None:
            raise
        log.warning("the state was not committed (%s); what was recorded is kept, and the next apply folds it in", failure.message)


@dataclass(frozen=True)
class ApplyResult:
    plan: Plan
    outcomes: tuple[Outcome, ...]
    summary: MetricsSummary | None
    reconciled: tuple[dict, ...] = ()
    refreshed: int = 0
    repair_note: str | None = None
    undelivered: int = 0
    metrics_file: Path | None = None
    warnings: tuple[str, ...] = ()
    announced: tuple[str, ...] = ()  # addresses whose governance event an interrupted run never queued
    from_file: bool = False  # a saved plan: applied once, so finishing the job needs a new plan
    interrupted: KeyboardInterrupt | None = None  # Ctrl-C or SIGTERM stopped it; re-raised by raise_if_incomplete

    def _with(self, status: str) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status == status]

    @property
    def succeeded(self) -> list[Outcome]:
        return self._with(SUCCESS)

    @property
    def failures(self) -> list[Outcome]:
        return self._with(FAILURE)

    @property
    def unknown(self) -> list[Outcome]:
        """Changes whose answer was lost and could not be read back: the next apply settles them."""
        return self._with(UNKNOWN)

    @property
    def skipped(self) -> list[Outcome]:
        return self._with(SKIPPED)

    @property
    def finish_command(self) -> str:
        """What finishes a partial apply: the same command, or for a saved plan a new one of what is left."""
        env = self.plan.environment
        if self.from_file:
            return f"`llmplan plan --env {env} --out plan.json`, review it, then `llmplan apply plan.json`"
        return f"`llmplan apply --env {env}`"

    def raise_if_incomplete(self) -> None:
        """The interrupt that stopped the apply, else ApplyFailed naming every change that failed,
        stayed unknown or was not attempted."""
        if self.interrupted is not None:
            raise self.interrupted
        if not self.failures and not self.skipped and not self.unknown:
            return
        incomplete = [*self.failures, *self.unknown, *self.skipped]
        # each change's first line in the listing; what messages say on lines of their own (a missing scope) once each, below it
        listing = "; ".join(f"{o.address}: {(o.error_message or o.status).splitlines()[0].rstrip(':')}" for o in incomplete)
        apart = dict.fromkeys(line.strip() for o in incomplete for line in (o.error_message or "").splitlines()[1:])
        unknown = f", {len(self.unknown)} outcome(s) unknown" if self.unknown else ""
        settle = " (it reads back the changes whose outcome is unknown and records what happened)" if self.unknown else ""
        finish = f"run `llmplan apply --env {self.plan.environment}` again to finish" if not self.from_file else f"finish with a new plan of what is left: {self.finish_command}"
        done = "the successful changes are applied and recorded" if self.succeeded else "nothing was applied"
        raise ApplyFailed(
            f"{len(self.failures)} change(s) failed{unknown} and {len(self.skipped)} were not attempted ({listing})" + "".join(f"\n  {line}" for line in apart),
            hint=f"{done}; fix the cause and {finish}{settle}",
        )


def apply(
    root: Path,
    hooks: ApplyHooks,
    *,
    plan_file: Path | None = None,
    env_name: str | None = None,
    parallelism: int | None = None,
    force: bool = False,
    fail_fast: bool = False,
    lock_timeout: float = 0.0,
    environ: Mapping[str, str] | None = None,
    allow_weakening: bool = False,
    gateway_timeout: float | None = None,
) -> ApplyResult:
    """Apply a saved plan exactly, or plan now and apply what ``hooks`` approves; every outcome recorded as it happens."""
    environ = os.environ if environ is None else environ
    saved = read_plan_file(plan_file) if plan_file is not None else None
    if saved is not None and env_name and env_name != saved.environment:
        raise ConfigurationError(f"the plan file is for environment {saved.environment}, not {env_name}")
    name = saved.environment if saved is not None else env_name
    if not name:
        raise ConfigurationError("name the environment (--env) or a saved plan file to apply")
    environment = load_environment(root, name)
    records = open_records(environment, environ)
    sender = notifier(environment, records.outbox, environ)
    courier = Courier(sender) if sender is not None else None
    metrics = ApplyMetrics()
    executor = None
    undelivered = 0
    interrupted: KeyboardInterrupt | None = None
    try:
        with _interrupt_first(lambda: interrupted), RecordsSession(records, operation="apply", lock_timeout=lock_timeout) as session:
            workers = parallelism or environment.apply.parallelism
            with gateway_client(environment, parallelism=workers, environ=environ, timeout=gateway_timeout) as client:
                if saved is not None:
                    snapshot = fetch_live(client, [c.model_id for c in saved.changes if c.action != FORGET], parallelism=workers)
                    try:
                        saved.raise_if_stale(session.state, snapshot.configurations)
                    except StalePlan:
                        raise_if_applied_before(saved, records.audit)  # the trail says why, when it can
                        raise
                    settled = settle(session, snapshot.configurations, event_for=build_event if sender is not None else None)
                    plan = saved
                else:
                    snapshot = fetch_and_check(environment, client, parallelism=workers)
                    # settled first: a change an interrupted run landed is then in state, not "changed outside llmplan"
                    settled = settle(session, snapshot.configurations, event_for=build_event if sender is not None else None)
                    with collector_paused():
                        plan = build_plan(environment, snapshot.configurations, session.state, created_at=utc_now(), tool_version=__version__)
                    plan = from_checkout(plan, root)  # its commit is recorded with each model applied
                plan.raise_if_unsafe(force=force)
                hooks.plan_ready(plan)
                gate = weakening_gate(plan.changes, environment.apply.weakening, environment=environment.name, allowed=allow_weakening)
                if saved is None and plan.has_changes and not hooks.approve(plan):
                    raise Aborted("apply cancelled; nothing was changed")
                approval = gate.approve(hooks.approve_weakenings, actor(environ))
                recorder = Recorder(session, metrics, courier)
                refreshed = refresh_unchanged(plan, session.state, recorder, snapshot.configurations, snapshot.capabilities)
                executor = Executor(
                    plan,
                    client,
                    recorder,
                    capabilities=snapshot.capabilities,
                    parallelism=workers,
                    fail_fast=fail_fast,
                    hooks=hooks,
                    approval=approval,
                )
                outcomes = executor.run()
            interrupted = executor.interrupted
            if interrupted is None:  # interrupted, the signal is the news (exit 130 or 143), whatever else went wrong
                executor.raise_if_records_failed()
            if courier is not None and environment.governance is not None:  # under the lock: one process compacts the outbox
                undelivered = courier.finish(0 if interrupted else environment.governance.deliver_after_apply_seconds)  # interrupted: exit now, the events wait
        warnings = tuple(session.warnings)
    finally:
        if courier is not None:
            courier.close()
        records.close()
    summary = metrics.summary()
    metrics_file = None
    if summary.updates:
        metrics_file = environment.state_dir / "metrics.prom"
        write_textfile(metrics_file, prometheus_text(summary, environment.name))
    return ApplyResult(
        plan, tuple(outcomes), summary, settled.reconciled, refreshed, session.repair_note, undelivered, metrics_file, warnings, settled.announced,
        from_file=saved is not None, interrupted=interrupted,
    )

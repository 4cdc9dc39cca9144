"""The commands that write records: apply, refresh, import.

Each holds the environment's records through one
:class:`~planner.app.session.RecordsSession` (lock, repair, read,
settle, record, finish), so what a crash leaves behind is handled the same
way whichever command meets it next.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from planner import __version__
from planner.model.clock import utc_now
from planner.model.errors import ConfigurationError
from planner.app.context import collector_paused, fetch_and_check, gateway_client, load_environment, notifier, open_records, read_plan_file

if TYPE_CHECKING:
    from planner.app.executor import Outcome
    from planner.model.plan import FieldChange
    from planner.core.drift import UnmanagedModel
    from planner.adapters.metrics import MetricsSummary
    from planner.model.plan import Plan, ResourceChange
    from planner.app.migrate import MigrationResult


@dataclass(frozen=True)
class ApplyResult:
    plan: "Plan"
    outcomes: tuple["Outcome", ...]
    summary: "MetricsSummary | None"
    reconciled: tuple[dict, ...] = ()
    refreshed: int = 0
    repair_note: str | None = None
    undelivered: int = 0
    metrics_file: Path | None = None
    warnings: tuple[str, ...] = ()
    announced: tuple[str, ...] = ()  # addresses whose governance event an interrupted run never queued
    from_file: bool = False  # a saved plan: applied once, so finishing the job needs a new plan
    interrupted: KeyboardInterrupt | None = None  # Ctrl-C or SIGTERM stopped it; re-raised by raise_if_incomplete

    def _with(self, status: str) -> list["Outcome"]:
        return [outcome for outcome in self.outcomes if outcome.status == status]

    @property
    def succeeded(self) -> list["Outcome"]:
        return self._with("success")

    @property
    def failures(self) -> list["Outcome"]:
        return self._with("failure")

    @property
    def unknown(self) -> list["Outcome"]:
        """Changes whose answer was lost and could not be read back: the next apply settles them."""
        return self._with("unknown")

    @property
    def skipped(self) -> list["Outcome"]:
        return self._with("skipped")

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
        from planner.model.errors import ApplyFailed

        if self.interrupted is not None:
            raise self.interrupted
        if not self.failures and not self.skipped and not self.unknown:
            return
        listing = "; ".join(f"{o.address}: {o.error_message or o.status}" for o in [*self.failures, *self.unknown, *self.skipped])
        unknown = f", {len(self.unknown)} outcome(s) unknown" if self.unknown else ""
        settle = " (it reads back the changes whose outcome is unknown and records what happened)" if self.unknown else ""
        finish = f"run `llmplan apply --env {self.plan.environment}` again to finish" if not self.from_file else f"finish with a new plan of what is left: {self.finish_command}"
        raise ApplyFailed(
            f"{len(self.failures)} change(s) failed{unknown} and {len(self.skipped)} were not attempted ({listing})",
            hint=f"the successful changes are applied and recorded; fix the cause and {finish}{settle}",
        )


def apply(
    root: Path,
    *,
    plan_file: Path | None = None,
    env_name: str | None = None,
    parallelism: int | None = None,
    force: bool = False,
    fail_fast: bool = False,
    lock_timeout: float = 0.0,
    show_plan: "Callable[[Plan], None]" = lambda plan: None,
    confirm: "Callable[[Plan], bool]" = lambda plan: False,
    on_outcome: "Callable[[Outcome], None] | None" = None,
    environ: Mapping[str, str] | None = None,
    allow_weakening: bool = False,
    confirm_weakening: "Callable[[Sequence[ResourceChange]], bool]" = lambda changes: False,
    gateway_timeout: float | None = None,
) -> ApplyResult:
    """lock → (saved plan: refuse if stale | plan now and confirm) → weakenings
    allowed (apply.weakening) → PUTs → record."""
    from planner.app.executor import Executor, Recorder, raise_if_applied_before
    from planner.app.refreshing import refresh_unchanged
    from planner.model.errors import Aborted, StalePlan
    from planner.adapters.governance import build_event
    from planner.adapters.gateway.live import fetch_live
    from planner.adapters.metrics import ApplyMetrics, prometheus_text, write_textfile
    from planner.core.planning import build_plan
    from planner.model.plan import FORGET
    from planner.app.session import RecordsSession
    from planner.core.safety import weakening_gate
    from planner.adapters.identity import actor

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
    metrics = ApplyMetrics()
    executor = None
    try:
        with RecordsSession(records, environment=environment.name, operation="apply", lock_timeout=lock_timeout) as session:
            workers = parallelism or environment.apply.parallelism
            with gateway_client(environment, parallelism=workers, environ=environ, timeout=gateway_timeout) as client:
                if saved is not None:
                    snapshot = fetch_live(client, [c.model_id for c in saved.changes if c.action != FORGET], parallelism=workers)
                    try:
                        saved.raise_if_stale(session.state, snapshot.configurations)
                    except StalePlan:
                        raise_if_applied_before(saved, records.audit.entries())  # the trail says why, when it can
                        raise
                    settled = session.settle(snapshot.configurations, event_for=build_event if sender is not None else None)
                    plan = saved
                else:
                    snapshot = fetch_and_check(environment, client, parallelism=workers)
                    # settled first: a change an interrupted run landed is then in state, not "changed outside llmplan"
                    settled = session.settle(snapshot.configurations, event_for=build_event if sender is not None else None)
                    with collector_paused():
                        plan = build_plan(environment, snapshot.configurations, session.state, created_at=utc_now(), tool_version=__version__)
                plan.raise_if_unsafe(force=force)
                show_plan(plan)
                gate = weakening_gate(plan.changes, environment.apply.weakening, environment=environment.name, allowed=allow_weakening)
                if saved is None and plan.has_changes and not confirm(plan):
                    raise Aborted("apply cancelled; nothing was changed")
                approval = gate.approve(confirm_weakening, actor(environ))
                recorder = Recorder(session, metrics, sender)
                refreshed = refresh_unchanged(plan, session.state, recorder, snapshot.configurations, snapshot.capabilities)
                executor = Executor(
                    plan,
                    client,
                    recorder,
                    capabilities=snapshot.capabilities,
                    parallelism=workers,
                    fail_fast=fail_fast,
                    on_outcome=on_outcome,
                    approval=approval,
                )
                outcomes = executor.run()
        interrupted = executor.interrupted if executor is not None else None
        # interrupted: the events stay in the outbox (durable) for the next run or `governance flush`; exit now
        undelivered = (len(sender.pending()) if interrupted else sender.flush().remaining) if sender is not None else 0
        warnings = tuple(session.warnings)
    finally:
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


@dataclass(frozen=True)
class RecordedModel:
    """A model whose live configuration was recorded in state; ``differs``:
    where that live configuration is not the YAML (live → YAML), which the
    next plan would change back."""

    address: str
    model_id: str
    version: int | None
    file: Path | None = None
    name: str | None = None
    differs: tuple["FieldChange", ...] = ()


def refresh(root: Path, env_name: str, *, lock_timeout: float = 0.0, environ: Mapping[str, str] | None = None, gateway_timeout: float | None = None) -> list[RecordedModel]:
    """Record the live configuration of every managed model in state, changing
    nothing on the gateway: how a reviewed out-of-band change is accepted."""
    from planner.app.executor import Recorder
    from planner.app.refreshing import refresh_state
    from planner.core.diff import diff_configurations
    from planner.adapters.governance import build_event
    from planner.adapters.metrics import ApplyMetrics
    from planner.app.session import RecordsSession

    environ = os.environ if environ is None else environ
    environment = load_environment(root, env_name)
    records = open_records(environment, environ)
    try:
        sender = notifier(environment, records.outbox, environ)
        with RecordsSession(records, environment=environment.name, operation="refresh", lock_timeout=lock_timeout, trust="warn") as session:
            workers = environment.apply.parallelism
            with gateway_client(environment, parallelism=workers, environ=environ, timeout=gateway_timeout) as client:
                snapshot = fetch_and_check(environment, client, parallelism=workers)
            session.settle(snapshot.configurations, event_for=build_event if sender is not None else None)
            managed = [(model.address, model.model_id) for model in environment.models]
            known = None if session.untrusted else session.state  # a state nobody vouches for is recorded afresh from live
            recorded = refresh_state(managed, known, Recorder(session, ApplyMetrics()), snapshot.configurations, snapshot.capabilities)
    finally:
        records.close()
    desired = {model.address: model.config for model in environment.models}
    return [RecordedModel(r.address, r.model_id, r.version, differs=diff_configurations(r.configuration, desired[r.address])) for r in recorded]


@dataclass(frozen=True)
class ImportResult:
    imported: tuple[RecordedModel, ...]
    candidates: tuple["UnmanagedModel", ...]


def import_models(
    root: Path,
    env_name: str,
    *,
    model_ids: Sequence[str] = (),
    import_all: bool = False,
    lock_timeout: float = 0.0,
    environ: Mapping[str, str] | None = None,
    gateway_timeout: float | None = None,
) -> ImportResult:
    """Write model files for live configurations no YAML names yet, and record
    them in state, so the next plan shows no change for them. Without
    ``model_ids`` or ``import_all``, only lists what could be imported."""
    from planner.app.executor import Recorder
    from planner.app.refreshing import record_live
    from planner.core.drift import UnmanagedModel
    from planner.model.settings import MODEL_SUFFIXES, MODELS_DIR
    from planner.adapters.gateway.client import check_model_id
    from planner.adapters.governance import build_event
    from planner.core.importing import choose_addresses, model_yaml
    from planner.adapters.gateway.live import fetch_all
    from planner.adapters.metrics import ApplyMetrics
    from planner.app.session import RecordsSession

    for model_id in model_ids:
        check_model_id(model_id)
    environ = os.environ if environ is None else environ
    environment = load_environment(root, env_name)
    records = open_records(environment, environ)
    try:
        sender = notifier(environment, records.outbox, environ)
        with RecordsSession(records, environment=environment.name, operation="import", lock_timeout=lock_timeout) as session:
            with gateway_client(environment, parallelism=environment.apply.parallelism, environ=environ, timeout=gateway_timeout) as client:
                snapshot = fetch_all(client)
            managed = {model.model_id.lower(): model for model in environment.models}
            candidates = tuple(
                UnmanagedModel(model_id, snapshot.names[model_id], config.get("version"))
                for model_id, config in sorted(snapshot.configurations.items())
                if config is not None and model_id not in managed
            )
            chosen = [candidate.model_id for candidate in candidates] if import_all else _chosen(model_ids, snapshot.configurations, managed)
            if not chosen:
                return ImportResult((), candidates)
            models_dir = environment.directory / MODELS_DIR
            taken = {path.stem for path in models_dir.iterdir() if path.suffix in MODEL_SUFFIXES}
            # an address still in state (its file removed, its forget not applied yet) is taken too:
            # recording an import there would silently replace that model's record
            taken.update(session.state.resources if session.state is not None else ())
            addresses = choose_addresses([(model_id, snapshot.names[model_id]) for model_id in chosen], taken)
            session.settle(snapshot.configurations, event_for=build_event if sender is not None else None)
            recorder = Recorder(session, ApplyMetrics())
            imported: list[RecordedModel] = []
            for model_id in chosen:
                live = snapshot.configurations[model_id]
                assert live is not None
                path = models_dir / f"{addresses[model_id]}.yaml"
                _write_new_file(path, model_yaml(live))
                record_live(recorder, address=addresses[model_id], live=live, capabilities=snapshot.capabilities.get(model_id), action="state_import")
                imported.append(RecordedModel(addresses[model_id], model_id, live.get("version"), path, snapshot.names[model_id]))
            return ImportResult(tuple(imported), candidates)
    finally:
        records.close()


def _chosen(model_ids: Sequence[str], live: Mapping[str, Mapping | None], managed: Mapping[str, object]) -> list[str]:
    """The requested ids, each checked: on the gateway, configured, not managed yet."""
    chosen: list[str] = []
    for raw in model_ids:
        model_id = raw.lower()
        if model_id not in live:
            raise ConfigurationError(f"model {raw} does not exist on the gateway")
        if model_id in managed:
            raise ConfigurationError(f"model {raw} is already managed by {getattr(managed[model_id], 'file', '?')}")
        if live[model_id] is None:
            raise ConfigurationError(f"model {raw} was never configured on the gateway; there is nothing to import (write its YAML and apply instead)")
        if model_id not in chosen:
            chosen.append(model_id)
    return chosen


def _write_new_file(path: Path, text: str) -> None:
    """Create ``path`` durably; never overwrite a file that exists."""
    from planner.adapters.files import fsync_directory

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise ConfigurationError(f"{path} already exists; not overwriting it") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    fsync_directory(path.parent)


def migrate_state(root: Path, env_name: str, *, source_backend: str | None = None, lock_timeout: float = 0.0, environ: Mapping[str, str] | None = None) -> "MigrationResult":
    """Bring the environment's records to the backend its ``state:`` block names now, from the other one
    (or from ``source_backend``); like ``terraform init -migrate-state``, safe to run again."""
    from dataclasses import replace

    from planner.adapters.project import read_state_settings
    from planner.adapters.records import open_records as open_backend
    from planner.app.migrate import migrate

    environ = os.environ if environ is None else environ
    root = root.resolve()
    target_settings = read_state_settings(root, env_name)
    source_kind = source_backend or ("local" if target_settings.backend == "postgres" else "postgres")
    if source_kind == target_settings.backend:
        raise ConfigurationError(
            f"environment {env_name} already keeps its records in the {source_kind} backend; nothing to migrate from it to itself",
            hint="set state.backend in environment.yaml to the backend to move to, then run state migrate (--from names where the records are now)",
        )
    source = open_backend(env_name, root, replace(target_settings, backend=source_kind), environ=environ)
    try:
        target = open_backend(env_name, root, target_settings, environ=environ)
        try:
            return migrate(source, target, environment=env_name, lock_timeout=lock_timeout)
        finally:
            target.close()
    finally:
        source.close()

"""One function per command: the imperative shell that wires the pure core.

``cli.py`` parses options and calls exactly one function here; each function
loads, validates, talks to the gateway and records, and returns data for the
CLI to render.  Like octoDNS's Manager, this is the only module that knows
the whole flow.
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, Sequence

from planner import __version__
from planner.clock import utc_now
from planner.environment import Environment, build_environment, read_environment
from planner.errors import ConfigurationError, Problem, ValidationFailed
from planner.validation import check_capabilities, check_environment

if TYPE_CHECKING:
    from planner.apply import Outcome
    from planner.audit import AuditLog, AuditReport, RepairResult
    from planner.drift import DriftReport, UnmanagedModel
    from planner.governance import FlushResult
    from planner.state import LockInfo
    from planner.gateway.client import GatewayClient
    from planner.governance import GovernanceNotifier
    from planner.metrics import MetricsSummary
    from planner.state import State
    from planner.live import LiveSnapshot
    from planner.plan import Plan, ResourceChange
    from planner.state import LocalStateBackend


def load_environment(root: Path, name: str) -> Environment:
    """Read and validate an environment offline; every problem at once."""
    with collector_paused():
        source = read_environment(root, name)
        problems = check_environment(source)
    if problems:
        raise ValidationFailed(problems, what=f"environment {name} is not valid")
    return build_environment(source)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off for a block that builds many small containers
    (loading an environment, building a plan).

    Loading 10,000 model files makes hundreds of thousands of dicts, lists
    and tuples and no reference cycles, yet the collector, run every 700
    allocations, walks them again and again (about a tenth of the load).
    Cycles made meanwhile (a YAML alias that loops) are collected once it
    runs again.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def state_backend(environment: Environment) -> "LocalStateBackend":
    from planner.state import LocalStateBackend

    return LocalStateBackend(environment.state_dir)


@contextmanager
def locked_state(environment: Environment, operation: str, lock_timeout: float) -> Iterator["LocalStateBackend"]:
    """The environment's state backend, held under its lock for the block."""
    backend = state_backend(environment)
    lock = backend.lock(operation, timeout=lock_timeout)
    try:
        yield backend
    finally:
        backend.unlock(lock)


@contextmanager
def gateway_client(environment: Environment, *, parallelism: int, environ: Mapping[str, str] | None = None) -> Iterator["GatewayClient"]:
    """A client for the environment's gateway.

    ``gateway: {sandbox: true}`` starts the built-in sandbox in this process,
    persisted under ``state/<env>/`` so successive commands see each other's
    changes; ``LLMPLAN_GATEWAY_URL`` points any environment elsewhere.
    """
    from planner.gateway.client import GatewayClient
    from planner.gateway.endpoints import GATEWAY_URL_VARIABLE, Credentials, Endpoint, credentials_from_env, resolve_endpoint

    environ = os.environ if environ is None else environ
    settings = environment.gateway
    sandbox = None
    fallback = None
    if settings.sandbox:
        from planner.sandbox import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, start_sandbox

        # the sandbox's own documented client, unless GENESYSCLOUD_* name another
        fallback = Credentials(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    if settings.sandbox and not environ.get(GATEWAY_URL_VARIABLE):
        sandbox = start_sandbox(data_file=environment.state_dir / "sandbox.json")
        endpoint = Endpoint(api_url=sandbox.url, login_url=sandbox.url)
        credentials = fallback  # an in-process sandbox is ours: never send it the user's credentials
    else:
        endpoint = resolve_endpoint(region=settings.region, base_url=settings.base_url, login_url=settings.login_url, environ=environ)
        credentials = credentials_from_env(environ, fallback=fallback)
    try:
        with GatewayClient(endpoint, credentials, parallelism=parallelism) as client:
            yield client
    finally:
        if sandbox is not None:
            sandbox.stop()


def fetch_and_check(environment: Environment, client: "GatewayClient", *, parallelism: int, addresses: Sequence[str] = ()) -> "LiveSnapshot":
    """Live configurations of the environment's models, after checking every
    model exists on the gateway and respects its live capabilities."""
    from planner.live import fetch_live

    models = [m for m in environment.models if not addresses or m.address in addresses]
    snapshot = fetch_live(client, [m.model_id for m in models], parallelism=parallelism)
    problems: list[Problem] = []
    for model in models:
        if model.model_id.lower() in snapshot.unknown:
            origin = model.origin(("model_id",))
            problems.append(Problem(origin.file, origin.line, "model_id", f"model {model.model_id} does not exist on the gateway"))
    problems.extend(check_capabilities(models, snapshot.capabilities))
    if problems:
        raise ValidationFailed(problems, what=f"environment {environment.name} does not fit the live gateway")
    return snapshot


@dataclass(frozen=True)
class PlanOutcome:
    environment: Environment
    plan: "Plan"
    snapshot: "LiveSnapshot"


def make_plan(
    root: Path,
    env_name: str,
    *,
    targets: Sequence[str] = (),
    parallelism: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> PlanOutcome:
    """validate → fetch live → check capabilities → build the plan."""
    from planner.plan import build_plan, unknown_targets

    environment = load_environment(root, env_name)
    state = state_backend(environment).read()
    missing = unknown_targets(environment, state, targets)
    if missing:
        # a removed file's address is still a target (its forget), so state's addresses are listed too
        addresses = {m.address for m in environment.models} | set(state.resources if state is not None else ())
        known = ", ".join(sorted(addresses)) or "none"
        raise ConfigurationError(f"--target {', '.join(missing)}: no such address in environment {env_name} (addresses: {known})")
    workers = parallelism or environment.apply.parallelism
    with gateway_client(environment, parallelism=workers, environ=environ) as client:
        snapshot = fetch_and_check(environment, client, parallelism=workers, addresses=targets)
    with collector_paused():  # 10,000 no-op models: 0.45 s -> 0.34 s
        plan = build_plan(environment, snapshot.configurations, state, created_at=utc_now(), tool_version=__version__, targets=targets)
    return PlanOutcome(environment, plan, snapshot)


def read_plan_file(path: Path) -> "Plan":
    from planner.errors import PlanFileError
    from planner.plan import loads

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanFileError(f"plan file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanFileError(f"cannot read plan file {path}: {exc}") from exc
    return loads(text, source=f"plan file {path}")


def write_plan_file(plan: "Plan", path: Path) -> None:
    from planner.plan import dumps

    write_output_file(path, dumps(plan), what="plan file")


def write_output_file(path: Path, text: str, *, what: str) -> None:
    """Write what the user asked for with ``--out``; a path that cannot be
    written is their error to fix, not a traceback."""
    from planner.files import atomic_write_text

    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise ConfigurationError(f"cannot write the {what} {path}: {exc.strerror or exc}", hint="pass --out a path in a writable folder") from exc


# --- apply ------------------------------------------------------------------


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

    @property
    def failures(self) -> list["Outcome"]:
        return [outcome for outcome in self.outcomes if outcome.status == "failure"]

    @property
    def skipped(self) -> list["Outcome"]:
        return [outcome for outcome in self.outcomes if outcome.status == "skipped"]


def _check_not_moved(plan: "Plan", state: "State | None", configurations: Mapping[str, Mapping | None]) -> None:
    """Refuse a saved plan if state or any live configuration moved since."""
    from planner.errors import StalePlan

    lineage = state.lineage if state is not None else None
    serial = state.serial if state is not None else 0
    if plan.state_lineage is not None and lineage != plan.state_lineage:
        raise StalePlan(f"the plan was made against state lineage {plan.state_lineage}, but the state of environment {plan.environment} has lineage {lineage}")
    if serial != plan.state_serial:
        raise StalePlan(f"the state of environment {plan.environment} moved since the plan was made (serial {plan.state_serial} → {serial}): another apply ran")
    moved = []
    for change in plan.changes:
        if change.action == "forget":
            continue
        live = configurations.get(change.model_id)
        version = live.get("version") if live is not None else None
        if version != change.live_version:
            moved.append(f"{change.address} (planned against version {change.live_version}, live is {version})")
    if moved:
        raise StalePlan("live configuration changed since the plan was made: " + ", ".join(moved))


def _notifier(environment: Environment, environ: Mapping[str, str]) -> "GovernanceNotifier | None":
    settings = environment.governance
    if settings is None:
        return None
    from planner.governance import GovernanceNotifier

    secret = None
    if settings.secret_env:
        secret = environ.get(settings.secret_env)
        if not secret:
            raise ConfigurationError(
                f"governance.secret_env names {settings.secret_env}, but that environment variable is not set",
                hint=f"export {settings.secret_env} with the webhook signing secret, or remove secret_env from environment.yaml",
            )
    return GovernanceNotifier(settings.webhook_url, environment.state_dir / "outbox.jsonl", secret=secret, timeout=settings.timeout_seconds)


def audit_log(environment: Environment) -> "AuditLog":
    from planner.audit import AuditLog

    return AuditLog(environment.state_dir / "audit.jsonl")


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
) -> ApplyResult:
    """lock → (saved plan: refuse if stale | plan now and confirm) → weakenings
    allowed (apply.weakening) → PUTs → record."""
    from planner.apply import Executor, Recorder, refresh_unchanged
    from planner.errors import Aborted, SafetyThresholdExceeded
    from planner.live import fetch_live
    from planner.metrics import ApplyMetrics, prometheus_text, write_textfile
    from planner.plan import build_plan
    from planner.safety import weakening_gate

    environ = os.environ if environ is None else environ
    saved = read_plan_file(plan_file) if plan_file is not None else None
    if saved is not None and env_name and env_name != saved.environment:
        raise ConfigurationError(f"the plan file is for environment {saved.environment}, not {env_name}")
    name = saved.environment if saved is not None else env_name
    if not name:
        raise ConfigurationError("name the environment (--env) or a saved plan file to apply")
    environment = load_environment(root, name)
    notifier = _notifier(environment, environ)
    with locked_state(environment, "apply", lock_timeout) as backend:
        audit = audit_log(environment)
        repair_note = _repair_audit(audit)
        state = backend.read()
        workers = parallelism or environment.apply.parallelism
        with gateway_client(environment, parallelism=workers, environ=environ) as client:
            if saved is not None:
                ids = [c.model_id for c in saved.changes if c.action != "forget"]
                snapshot = fetch_live(client, ids, parallelism=workers)
                _check_not_moved(saved, state, snapshot.configurations)
                plan = saved
            else:
                snapshot = fetch_and_check(environment, client, parallelism=workers)
                with collector_paused():
                    plan = build_plan(environment, snapshot.configurations, state, created_at=utc_now(), tool_version=__version__)
            reconciled, announced = _settle_interrupted(environment, audit, notifier, state, snapshot.configurations)
            if plan.safety.exceeded and not force:
                raise SafetyThresholdExceeded(plan.safety.describe())
            show_plan(plan)
            gate = weakening_gate(plan.changes, environment.apply.weakening, environment=environment.name, allowed=allow_weakening)
            if saved is None and plan.has_changes and not confirm(plan):
                raise Aborted("apply cancelled; nothing was changed")
            approval = gate.approve(confirm_weakening, environ)
            metrics = ApplyMetrics()
            recorder = Recorder(environment.name, backend, audit, metrics, notifier)
            refreshed = 0
            try:
                refreshed = refresh_unchanged(plan, state, recorder, snapshot.configurations, snapshot.capabilities)
                outcomes = Executor(
                    plan,
                    client,
                    recorder,
                    capabilities=snapshot.capabilities,
                    parallelism=workers,
                    fail_fast=fail_fast,
                    on_outcome=on_outcome,
                    approval=approval,
                ).run()
            finally:
                _finish_records(backend, audit)
        undelivered = notifier.flush().remaining if notifier is not None else 0
        summary = metrics.summary()
        metrics_file = None
        if summary.updates:
            metrics_file = environment.state_dir / "metrics.prom"
            write_textfile(metrics_file, prometheus_text(summary, environment.name))
        warnings = tuple(backend.warnings)  # the notifier logs its own warnings
        return ApplyResult(plan, tuple(outcomes), summary, reconciled, refreshed, repair_note, undelivered, metrics_file, warnings, announced)


def _settle_interrupted(
    environment: Environment,
    audit: "AuditLog",
    notifier: "GovernanceNotifier | None",
    state: "State | None",
    live: Mapping[str, Mapping | None],
) -> tuple[tuple[dict, ...], tuple[str, ...]]:
    """Close what a killed run left open, before this run moves the audit
    checkpoint past it: outcomes of PUTs that were in flight (judged from the
    live configuration) and governance events never queued."""
    from planner.apply import announce_missed, reconcile_interrupted

    reconciled = tuple(reconcile_interrupted(audit, live, environment.name))
    announced = tuple(announce_missed(audit, notifier, state, live)) if notifier is not None else ()
    return reconciled, announced


def _repair_audit(audit: "AuditLog") -> str | None:
    """A torn last audit line (a crash mid-write) is set aside and recorded,
    never chained onto; anything worse stops the apply."""
    report = audit.verify()
    if report.ok:
        return None
    if report.torn_tail:
        audit.repair()
        return f"audit trail: {report.problem}; the fragment was moved to audit.jsonl.torn and the repair recorded"
    from planner.errors import AuditError

    raise AuditError(f"audit trail does not verify: {report.problem}", hint="inspect state/<env>/audit.jsonl; llmplan audit verify names the first bad line")


def _finish_records(backend: "LocalStateBackend", audit: "AuditLog") -> "State":
    """Fold the journal into state.json, then checkpoint the audit trail so a
    removal of its last lines is detectable too."""
    state = backend.commit()
    audit.checkpoint()
    return state


# --- drift, refresh, import ---------------------------------------------------


def drift(root: Path, env_name: str, *, parallelism: int | None = None, environ: Mapping[str, str] | None = None) -> "DriftReport":
    """Read-only: no lock, no prompt; safe beside a running apply."""
    from planner.drift import detect_drift
    from planner.live import fetch_all

    environment = load_environment(root, env_name)
    state = state_backend(environment).read()
    workers = parallelism or environment.apply.parallelism
    with gateway_client(environment, parallelism=workers, environ=environ) as client:
        snapshot = fetch_all(client)
    _check_known(environment, snapshot)
    return detect_drift(environment, snapshot.configurations, snapshot.names, state, created_at=utc_now(), tool_version=__version__)


def _check_known(environment: Environment, snapshot: "LiveSnapshot") -> None:
    problems = []
    for model in environment.models:
        if model.model_id.lower() not in snapshot.configurations:
            origin = model.origin(("model_id",))
            problems.append(Problem(origin.file, origin.line, "model_id", f"model {model.model_id} does not exist on the gateway"))
    if problems:
        raise ValidationFailed(problems, what=f"environment {environment.name} does not fit the live gateway")


@dataclass(frozen=True)
class RecordedModel:
    address: str
    model_id: str
    version: int | None
    file: Path | None = None
    name: str | None = None


def refresh(root: Path, env_name: str, *, lock_timeout: float = 0.0, environ: Mapping[str, str] | None = None) -> list[RecordedModel]:
    """Record the live configuration of every managed model in state, changing
    nothing on the gateway: how a reviewed out-of-band change is accepted."""
    from planner.apply import Recorder, refresh_state
    from planner.metrics import ApplyMetrics

    environ = os.environ if environ is None else environ
    environment = load_environment(root, env_name)
    notifier = _notifier(environment, environ)
    with locked_state(environment, "refresh", lock_timeout) as backend:
        audit = audit_log(environment)
        _repair_audit(audit)
        state = backend.read()
        workers = environment.apply.parallelism
        with gateway_client(environment, parallelism=workers, environ=environ) as client:
            snapshot = fetch_and_check(environment, client, parallelism=workers)
        _settle_interrupted(environment, audit, notifier, state, snapshot.configurations)
        recorder = Recorder(environment.name, backend, audit, ApplyMetrics())
        try:
            managed = [(model.address, model.model_id) for model in environment.models]
            recorded = refresh_state(managed, state, recorder, snapshot.configurations, snapshot.capabilities)
        finally:
            _finish_records(backend, audit)
        return [RecordedModel(r.address, r.model_id, r.version) for r in recorded]


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
) -> ImportResult:
    """Write model files for live configurations no YAML names yet, and record
    them in state, so the next plan shows no change for them. Without
    ``model_ids`` or ``import_all``, only lists what could be imported."""
    from planner.apply import Recorder, record_live
    from planner.drift import UnmanagedModel
    from planner.environment import MODEL_SUFFIXES, MODELS_DIR
    from planner.gateway.client import check_model_id
    from planner.importer import choose_addresses, model_yaml
    from planner.live import fetch_all
    from planner.metrics import ApplyMetrics

    for model_id in model_ids:
        check_model_id(model_id)
    environ = os.environ if environ is None else environ
    environment = load_environment(root, env_name)
    with locked_state(environment, "import", lock_timeout) as backend:
        with gateway_client(environment, parallelism=environment.apply.parallelism, environ=environ) as client:
            snapshot = fetch_all(client)
        managed = {model.model_id.lower(): model for model in environment.models}
        candidates = tuple(
            UnmanagedModel(model_id, snapshot.names[model_id], config.get("version"))
            for model_id, config in sorted(snapshot.configurations.items())
            if config is not None and model_id not in managed
        )
        if import_all:
            chosen = [candidate.model_id for candidate in candidates]
        else:
            chosen = []
            for raw in model_ids:
                model_id = raw.lower()
                if model_id not in snapshot.configurations:
                    raise ConfigurationError(f"model {raw} does not exist on the gateway")
                if model_id in managed:
                    raise ConfigurationError(f"model {raw} is already managed by {managed[model_id].file}")
                if snapshot.configurations[model_id] is None:
                    raise ConfigurationError(f"model {raw} was never configured on the gateway; there is nothing to import (write its YAML and apply instead)")
                if model_id not in chosen:
                    chosen.append(model_id)
        if not chosen:
            return ImportResult((), candidates)
        models_dir = environment.directory / MODELS_DIR
        taken = {path.stem for path in models_dir.iterdir() if path.suffix in MODEL_SUFFIXES}
        # an address still in state (its file removed, its forget not applied yet) is taken too:
        # recording an import there would silently replace that model's record
        state = backend.read()
        taken.update(state.resources if state is not None else ())
        addresses = choose_addresses([(model_id, snapshot.names[model_id]) for model_id in chosen], taken)
        audit = audit_log(environment)
        _repair_audit(audit)
        _settle_interrupted(environment, audit, _notifier(environment, environ), state, snapshot.configurations)
        recorder = Recorder(environment.name, backend, audit, ApplyMetrics())
        imported: list[RecordedModel] = []
        try:
            for model_id in chosen:
                live = snapshot.configurations[model_id]
                path = models_dir / f"{addresses[model_id]}.yaml"
                _write_new_file(path, model_yaml(live))
                record_live(recorder, address=addresses[model_id], live=live, capabilities=snapshot.capabilities.get(model_id), action="state_import")
                imported.append(RecordedModel(addresses[model_id], model_id, live.get("version"), path, snapshot.names[model_id]))
        finally:
            _finish_records(backend, audit)
        return ImportResult(tuple(imported), candidates)


def _write_new_file(path: Path, text: str) -> None:
    """Create ``path`` durably; never overwrite a file that exists."""
    from planner.files import fsync_directory

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise ConfigurationError(f"{path} already exists; not overwriting it") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    fsync_directory(path.parent)


# --- state, locks, audit, governance -----------------------------------------


def _environment_for_records(root: Path, env_name: str) -> Environment:
    """Records commands must work even when the YAML is broken (that is when
    people look at state), so only the folder has to exist."""
    from planner.environment import ApplySettings, GatewaySettings, environment_directory

    root = root.resolve()
    directory = environment_directory(root, env_name)
    return Environment(env_name, root, directory, GatewaySettings(), None, ApplySettings(), None, ())


@dataclass(frozen=True)
class StateView:
    environment: str
    state: "State | None"
    lock: "LockInfo | None"
    warnings: tuple[str, ...]


def show_state(root: Path, env_name: str) -> StateView:
    environment = _environment_for_records(root, env_name)
    backend = state_backend(environment)
    state = backend.read()
    return StateView(env_name, state, backend.lock_holder(), tuple(backend.warnings))


def force_unlock(root: Path, env_name: str, lock_id: str) -> None:
    state_backend(_environment_for_records(root, env_name)).force_unlock(lock_id)


def verify_audit(root: Path, env_name: str, *, repair: bool = False, lock_timeout: float = 0.0) -> tuple["AuditReport", "RepairResult | None"]:
    environment = _environment_for_records(root, env_name)
    audit = audit_log(environment)
    report = audit.verify()
    if not repair or report.ok or not report.torn_tail:
        return report, None
    with locked_state(environment, "audit repair", lock_timeout):
        result = audit.repair()
        return audit.verify(), result


def audit_entries(root: Path, env_name: str, *, model_id: str | None = None) -> list[dict]:
    return audit_log(_environment_for_records(root, env_name)).entries(model_id=model_id)


def flush_governance(root: Path, env_name: str, *, lock_timeout: float = 0.0, environ: Mapping[str, str] | None = None) -> "FlushResult | None":
    """Resend queued webhook deliveries, under the state lock so two flushes
    never send the same outbox twice."""
    environment = load_environment(root, env_name)
    notifier = _notifier(environment, os.environ if environ is None else environ)
    if notifier is None:
        return None
    with locked_state(environment, "governance flush", lock_timeout):
        return notifier.flush()

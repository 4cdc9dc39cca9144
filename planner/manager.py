"""The shared wiring of every command: loading, the gateway, plans, drift, and reading records.

``planner.cli`` parses options and calls one function here or in
``planner.operations`` (the commands that write records); each loads,
validates, talks to the gateway and records, and returns data for the CLI to
render. Like octoDNS's Manager, these two modules are the only ones that
know the whole flow.
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from planner import __version__
from planner.clock import utc_now
from planner.environment import Environment, EnvironmentSource, build_environment
from planner.errors import ConfigurationError, Problem, ValidationFailed
from planner.loader import read_environment
from planner.validation import check_capabilities, check_environment

if TYPE_CHECKING:
    from planner.drift import DriftReport
    from planner.gateway.client import GatewayClient
    from planner.governance import FlushResult, GovernanceNotifier
    from planner.live import LiveSnapshot
    from planner.plan import Plan
    from planner.records.interfaces import AuditReport, Outbox, Records, RepairResult
    from planner.records.model import LockInfo, State


def load_environment(root: Path, name: str) -> Environment:
    """Read and validate an environment offline; every problem at once."""
    return build_environment(_valid_source(root, name))


def validate_environment(root: Path, name: str, environ: Mapping[str, str] | None = None) -> tuple[Environment, tuple[Problem, ...]]:
    """:func:`load_environment`, and its warnings: hidden model files, and a
    gateway that plan, apply and drift would refuse the credentials (judged
    offline, against this process's ``LLMPLAN_ALLOWED_GATEWAYS``)."""
    source = _valid_source(root, name)
    environment = build_environment(source)
    return environment, (*environment.warnings, *_gateway_warnings(environment, source, os.environ if environ is None else environ))


def _valid_source(root: Path, name: str) -> EnvironmentSource:
    with collector_paused():
        source = read_environment(root, name)
        problems = check_environment(source)
    if problems:
        raise ValidationFailed(problems, what=f"environment {name} is not valid")
    return source


def _gateway_warnings(environment: Environment, source: EnvironmentSource, environ: Mapping[str, str]) -> list[Problem]:
    from planner.gateway.endpoints import GATEWAY_URL_VARIABLE, resolve_endpoint

    gateway = environment.gateway
    if not gateway.base_url or (environ.get(GATEWAY_URL_VARIABLE) or "").strip() or source.settings is None:
        return []  # a region, the sandbox, or an address set outside the repository: nothing to refuse
    try:
        resolve_endpoint(base_url=gateway.base_url, login_url=gateway.login_url, environ=environ)
    except ConfigurationError as refused:  # not allowed, or an LLMPLAN_ALLOWED_GATEWAYS that is not a list of hosts
        setting = getattr(refused, "setting", None) or "gateway.base_url"
        path = tuple(setting.split("."))
        return [Problem(source.settings.file, source.settings.line_of(path), setting, f"{refused.message}; plan, apply and drift will refuse it")]
    return []


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


def open_records(environment: Environment, environ: Mapping[str, str] | None = None) -> "Records":
    """The environment's records, in the backend its ``state:`` block names."""
    from planner.records import open_records as open_backend

    return open_backend(environment.name, environment.root, environment.state, environ=environ)


@contextmanager
def gateway_client(environment: Environment, *, parallelism: int, environ: Mapping[str, str] | None = None, timeout: float | None = None) -> Iterator["GatewayClient"]:
    """A client for the environment's gateway.

    ``gateway: {sandbox: true}`` starts the built-in sandbox in this process,
    persisted under ``state/<env>/`` so successive commands see each other's
    changes; ``LLMPLAN_GATEWAY_URL`` points any environment elsewhere.
    ``timeout`` (``--gateway-timeout``) overrides ``gateway.timeout_seconds``:
    the deadline for reaching the gateway.
    """
    from planner.gateway.client import GatewayClient, Timeouts
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
        credentials = Credentials(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)  # an in-process sandbox is ours: never send it the user's credentials
    else:
        endpoint = resolve_endpoint(region=settings.region, base_url=settings.base_url, login_url=settings.login_url, environ=environ)
        credentials = credentials_from_env(environ, fallback=fallback)
    deadline = timeout or settings.timeout_seconds
    timeouts = Timeouts(deadline=deadline) if deadline else Timeouts()
    try:
        with GatewayClient(endpoint, credentials, parallelism=parallelism, timeouts=timeouts, source=address_source(environment, environ)) as client:
            yield client
    finally:
        if sandbox is not None:
            sandbox.stop()


def address_source(environment: Environment, environ: Mapping[str, str]) -> str:
    """Where the gateway's address came from, as an error message should say it."""
    from planner.environment import ENVIRONMENT_FILE, display_path
    from planner.gateway.endpoints import GATEWAY_URL_VARIABLE, REGION_VARIABLE

    settings = environment.gateway
    shown = display_path(environment.directory / ENVIRONMENT_FILE, environment.root)
    if environ.get(GATEWAY_URL_VARIABLE, "").strip():
        return f"from ${GATEWAY_URL_VARIABLE}"
    if settings.sandbox:
        return f"the built-in sandbox, from gateway.sandbox in {shown}"
    if settings.base_url:
        return f"from gateway.base_url in {shown}"
    if settings.region:
        return f"from gateway.region {settings.region} in {shown}"
    return f"from ${REGION_VARIABLE}"


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
    gateway_timeout: float | None = None,
) -> PlanOutcome:
    """validate → fetch live → check capabilities → build the plan."""
    from planner.build import build_plan, unknown_targets

    environment = load_environment(root, env_name)
    state = read_state(environment, environ, trust="refuse")
    missing = unknown_targets(environment, state, targets)
    if missing:
        # a removed file's address is still a target (its forget), so state's addresses are listed too
        addresses = {m.address for m in environment.models} | set(state.resources if state is not None else ())
        known = ", ".join(sorted(addresses)) or "none"
        raise ConfigurationError(f"--target {', '.join(missing)}: no such address in environment {env_name} (addresses: {known})")
    workers = parallelism or environment.apply.parallelism
    with gateway_client(environment, parallelism=workers, environ=environ, timeout=gateway_timeout) as client:
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


def notifier(environment: Environment, outbox: "Outbox", environ: Mapping[str, str]) -> "GovernanceNotifier | None":
    """The governance webhook of the environment, or None when it has none."""
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
    return GovernanceNotifier(settings.webhook_url, outbox, secret=secret, timeout=settings.timeout_seconds)


def read_state(environment: Environment, environ: Mapping[str, str] | None, *, trust: str) -> "State | None":
    """The environment's state, checked against its audit trail: refused (plan) or a warning on stderr (drift)."""
    from planner.records.session import refuse_or_warn

    records = open_records(environment, environ)
    try:
        refuse_or_warn(records, environment.name, trust)
        return records.state.read()
    finally:
        records.close()


# --- drift ------------------------------------------------------------------


def drift(root: Path, env_name: str, *, parallelism: int | None = None, environ: Mapping[str, str] | None = None, gateway_timeout: float | None = None) -> "DriftReport":
    """Read-only: no lock, no prompt; safe beside a running apply."""
    from planner.drift import detect_drift
    from planner.live import fetch_all

    environment = load_environment(root, env_name)
    state = read_state(environment, environ, trust="warn")  # a cron job still compares live with the YAML
    workers = parallelism or environment.apply.parallelism
    with gateway_client(environment, parallelism=workers, environ=environ, timeout=gateway_timeout) as client:
        snapshot = fetch_all(client)
    _check_known(environment, snapshot)
    report = detect_drift(environment, snapshot.configurations, snapshot.names, state, created_at=utc_now(), tool_version=__version__)
    remember_drift(environment, report, environ)
    return report


def remember_drift(environment: Environment, report: "DriftReport", environ: Mapping[str, str] | None) -> None:
    """Keep the result in the records for ``llmplan report --offline``; a drift check never
    fails for it (a read-only role, a read-only checkout): a warning says it was not kept."""
    import logging

    from planner.errors import StateError

    try:
        records = open_records(environment, environ)
        try:
            records.remember_drift(drift_result(report))
        finally:
            records.close()
    except (StateError, OSError) as error:
        reason = error.message if isinstance(error, StateError) else (error.strerror or str(error))
        logging.getLogger("llmplan.records").warning("the drift result was not remembered for `llmplan report --offline`: %s", reason)


def drift_result(report: "DriftReport") -> dict[str, Any]:
    """What is remembered of a drift check: plain JSON (field changes read live → YAML, as in the report)."""
    return {
        "format_version": 1,
        "environment": report.environment,
        "checked_at": report.created_at,
        "tool_version": report.tool_version,
        "models": report.total,
        "unmanaged": len(report.unmanaged),
        "drifted": [
            {
                "address": item.address,
                "model_id": item.model_id,
                "kind": item.kind,
                "changes": [change.to_dict() for change in item.changes],
                "weakened_outside": [finding.to_dict() for finding in item.outside.weakenings],
            }
            for item in report.drifted
        ],
    }


def _check_known(environment: Environment, snapshot: "LiveSnapshot") -> None:
    problems = []
    for model in environment.models:
        if model.model_id.lower() not in snapshot.configurations:
            origin = model.origin(("model_id",))
            problems.append(Problem(origin.file, origin.line, "model_id", f"model {model.model_id} does not exist on the gateway"))
    if problems:
        raise ValidationFailed(problems, what=f"environment {environment.name} does not fit the live gateway")


# --- state, locks, audit, governance -----------------------------------------


def records_of(root: Path, env_name: str, environ: Mapping[str, str] | None = None) -> "Records":
    """The records of an environment for the records commands, which must work
    even when the YAML is broken: only the folder and its ``state:`` block count."""
    from planner.loader import read_state_settings
    from planner.records import open_records as open_backend

    settings = read_state_settings(root, env_name)
    return open_backend(env_name, root.resolve(), settings, environ=environ)


@dataclass(frozen=True)
class StateView:
    environment: str
    state: "State | None"
    lock: "LockInfo | None"
    warnings: tuple[str, ...]


def show_state(root: Path, env_name: str) -> StateView:
    from planner.records.vouching import state_problems

    records = records_of(root, env_name)
    try:
        state = records.state.read()
        return StateView(env_name, state, records.locker.holder(), (*state_problems(records), *records.state.warnings))
    finally:
        records.close()


def force_unlock(root: Path, env_name: str, lock_id: str) -> None:
    records = records_of(root, env_name)
    try:
        records.locker.force_unlock(lock_id)
    finally:
        records.close()


def verify_audit(root: Path, env_name: str, *, repair: bool = False, lock_timeout: float = 0.0) -> tuple["AuditReport", "RepairResult | None"]:
    """The whole chain, streamed; with ``repair``, a torn last entry set aside under the lock."""
    from planner.records.interfaces import AuditReport
    from planner.records.vouching import state_problems

    records = records_of(root, env_name)
    try:
        report = records.audit.verify()
        problems = state_problems(records) if report.ok else []
        if problems:  # the chain holds, but the state and the trail no longer vouch for each other
            return AuditReport(False, report.entries, None, "; ".join(problems)), None
        if not repair or report.ok or not report.torn_tail:
            return report, None
        lock = records.locker.lock("audit repair", timeout=lock_timeout)
        try:
            result = records.audit.repair()
            return records.audit.verify(), result
        finally:
            records.locker.unlock(lock)
    finally:
        records.close()


def audit_entries(root: Path, env_name: str, *, model_id: str | None = None) -> Iterator[dict]:
    """The trail's entries, oldest first, streamed (the records stay open until the iteration ends)."""
    records = records_of(root, env_name)
    try:
        yield from records.audit.entries(model_id=model_id)
    finally:
        records.close()


def flush_governance(root: Path, env_name: str, *, lock_timeout: float = 0.0, environ: Mapping[str, str] | None = None) -> "FlushResult | None":
    """Resend queued webhook deliveries, under the environment's lock so two
    flushes never send the same outbox twice."""
    environ = os.environ if environ is None else environ
    environment = load_environment(root, env_name)
    if environment.governance is None:
        return None
    records = open_records(environment, environ)
    try:
        sender = notifier(environment, records.outbox, environ)
        assert sender is not None
        lock = records.locker.lock("governance flush", timeout=lock_timeout)
        try:
            return sender.flush()
        finally:
            records.locker.unlock(lock)
    finally:
        records.close()

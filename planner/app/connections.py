"""What an environment connects to: its gateway, its records and its governance webhook.

Each comes from the environment's own settings (``environment.yaml``), with
``LLMPLAN_GATEWAY_URL``, ``GENESYSCLOUD_*`` and the variables the settings
name read from the process environment.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from planner.adapters.gateway.client import GatewayClient, Timeouts
from planner.adapters.gateway.endpoints import GATEWAY_URL_VARIABLE, REGION_VARIABLE, Credentials, Endpoint, credentials_from_env, resolve_endpoint
from planner.adapters.gateway.live import LiveSnapshot, fetch_live
from planner.adapters.governance import GovernanceNotifier
from planner.adapters.project import read_state_settings
from planner.adapters.records import open_records as open_backend
from planner.adapters.records import other_backend
from planner.adapters.records.interfaces import Outbox, Records
from planner.app.session import refuse_or_warn
from planner.core.validation import check_capabilities
from planner.model.errors import ConfigurationError, Problem, RecordsMismatch, StateError, ValidationFailed
from planner.model.settings import ENVIRONMENT_FILE, Environment, display_path
from planner.model.state import State


def open_records(environment: Environment, environ: Mapping[str, str] | None = None) -> Records:
    """The environment's records, in the backend its ``state:`` block names.

    Refused when that backend holds nothing for the environment while the
    other one holds its records: ``state.backend`` was switched without
    ``llmplan state migrate``, and planning or applying into a fresh lineage
    would fork the records.
    """
    records = open_backend(environment.name, environment.root, environment.state, environ=environ)
    try:
        if records.is_empty():
            _refuse_a_switch_without_migrate(environment, records, environ)
    except BaseException:
        records.close()
        raise
    return records


def _refuse_a_switch_without_migrate(environment: Environment, records: Records, environ: Mapping[str, str] | None) -> None:
    try:
        other = other_backend(environment.name, environment.root, environment.state, environ=environ)
    except StateError:  # the other backend cannot be reached: nothing to compare with
        return
    if other is None:
        return
    try:
        if other.is_empty():
            return
        where = other.name
    except StateError:
        return
    finally:
        other.close()
    raise RecordsMismatch(
        f"environment.yaml of {environment.name} keeps its records in {records.name}, which holds nothing for it, while {where} holds its records",
        hint=f"move them first: `llmplan state migrate --env {environment.name}` (state.backend was switched without it); nothing was sent",
    )


def records_of(root: Path, env_name: str, environ: Mapping[str, str] | None = None) -> Records:
    """The records of an environment for the records commands, which must work
    even when the YAML is broken: only the folder and its ``state:`` block count."""
    settings = read_state_settings(root, env_name)
    return open_backend(env_name, root.resolve(), settings, environ=environ)


def read_state(environment: Environment, environ: Mapping[str, str] | None, *, trust: str) -> State | None:
    """The environment's state, checked against its audit trail: refused (plan) or a warning on stderr (drift)."""
    records = open_records(environment, environ)
    try:
        refuse_or_warn(records, trust)
        return records.state.read().state
    finally:
        records.close()


@contextmanager
def gateway_client(environment: Environment, *, parallelism: int, environ: Mapping[str, str] | None = None, timeout: float | None = None) -> Iterator[GatewayClient]:
    """A client for the environment's gateway.

    ``gateway: {sandbox: true}`` starts the built-in sandbox in this process,
    persisted under ``state/<env>/`` so successive commands see each other's
    changes; ``LLMPLAN_GATEWAY_URL`` points any environment elsewhere.
    ``timeout`` (``--gateway-timeout``) overrides ``gateway.timeout_seconds``:
    the deadline for reaching the gateway.
    """
    environ = os.environ if environ is None else environ
    settings = environment.gateway
    sandbox = None
    fallback = None
    if settings.sandbox:
        # Lazy: only environments with gateway.sandbox load the sandbox's HTTP server.
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


def fetch_and_check(environment: Environment, client: GatewayClient, *, parallelism: int, addresses: Sequence[str] = ()) -> LiveSnapshot:
    """Live configurations of the environment's models, after checking every
    model exists on the gateway and respects its live capabilities."""
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


def notifier(environment: Environment, outbox: Outbox, environ: Mapping[str, str]) -> GovernanceNotifier | None:
    """The governance webhook of the environment, or None when it has none."""
    settings = environment.governance
    if settings is None:
        return None
    secret = None
    if settings.secret_env:
        secret = environ.get(settings.secret_env)
        if not secret:
            raise ConfigurationError(
                f"governance.secret_env names {settings.secret_env}, but that environment variable is not set",
                hint=f"export {settings.secret_env} with the webhook signing secret, or remove secret_env from environment.yaml",
            )
    return GovernanceNotifier(settings.webhook_url, outbox, secret=secret, timeout=settings.timeout_seconds)

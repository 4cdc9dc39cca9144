"""``llmplan drift``: live against the YAML and against what llmplan last applied.

Read-only: no lock, no prompt; safe beside a running apply and made for cron.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

from planner import __version__
from planner.adapters.gateway.live import LiveSnapshot, fetch_all
from planner.adapters.records.interfaces import DriftMemory
from planner.app.connections import gateway_client, open_records, read_state
from planner.app.environments import load_environment
from planner.app.fleet import run_each
from planner.core.drift import DriftReport, detect_drift
from planner.model.clock import utc_now
from planner.model.errors import Problem, StateError, ValidationFailed
from planner.model.fleet import EnvironmentResult
from planner.model.settings import Environment


def drift(root: Path, env_name: str, *, parallelism: int | None = None, environ: Mapping[str, str] | None = None, gateway_timeout: float | None = None) -> DriftReport:
    """The drift report of one environment; a state its trail does not vouch for is a warning, not a stop."""
    environment = load_environment(root, env_name)
    state = read_state(environment, environ, trust="warn")  # a cron job still compares live with the YAML
    workers = parallelism or environment.apply.parallelism
    with gateway_client(environment, parallelism=workers, environ=environ, timeout=gateway_timeout) as client:
        snapshot = fetch_all(client)
    _check_known(environment, snapshot)
    report = detect_drift(environment, snapshot.configurations, snapshot.names, state, created_at=utc_now(), tool_version=__version__)
    remember_drift(environment, report, environ)
    return report


def drift_environments(
    root: Path, names: Sequence[str], *, parallelism: int | None = None, environ: Mapping[str, str] | None = None, gateway_timeout: float | None = None
) -> list[EnvironmentResult[DriftReport]]:
    """The drift report of every environment of ``names``, side by side (the one cron job of a fleet);
    one that fails (a gateway down) leaves the others checked."""

    def one(name: str) -> EnvironmentResult[DriftReport]:
        return EnvironmentResult(name, drift(root, name, parallelism=parallelism, environ=environ, gateway_timeout=gateway_timeout))

    return run_each(names, one)


def remember_drift(environment: Environment, report: DriftReport, environ: Mapping[str, str] | None) -> None:
    """Keep the result for ``llmplan report --offline``. A drift check never fails for it
    (a read-only role, a read-only checkout): a warning says it was not kept."""
    try:
        records = open_records(environment, environ)
        try:
            if isinstance(records, DriftMemory):
                records.remember_drift(report.remembered())
        finally:
            records.close()
    except (StateError, OSError) as error:
        reason = error.message if isinstance(error, StateError) else (error.strerror or str(error))
        logging.getLogger("llmplan.records").warning("the drift result was not remembered for `llmplan report --offline`: %s", reason)


def _check_known(environment: Environment, snapshot: LiveSnapshot) -> None:
    problems = []
    for model in environment.models:
        if model.model_id.lower() not in snapshot.configurations:
            origin = model.origin(("model_id",))
            problems.append(Problem(origin.file, origin.line, "model_id", f"model {model.model_id} does not exist on the gateway"))
    if problems:
        raise ValidationFailed(problems, what=f"environment {environment.name} does not fit the live gateway")

"""``llmplan plan``: validate → fetch live → check capabilities → build the plan; of one environment or several side by side."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

from planner import __version__
from planner.adapters.gateway.live import LiveSnapshot
from planner.adapters.git import checkout_commit, contains
from planner.app.connections import fetch_and_check, gateway_client, read_state
from planner.app.environments import collector_paused, load_environment
from planner.app.fleet import run_each
from planner.core.planning import build_plan, unknown_targets
from planner.model.clock import utc_now
from planner.model.errors import ConfigurationError
from planner.model.fleet import EnvironmentResult
from planner.model.plan import Plan
from planner.model.settings import Environment
from planner.model.state import State


@dataclass(frozen=True)
class PlanOutcome:
    environment: Environment
    plan: Plan
    snapshot: LiveSnapshot
    warnings: tuple[str, ...] = ()  # beside the environment's own: the checkout is behind the last apply


def make_plan(
    root: Path,
    env_name: str,
    *,
    targets: Sequence[str] = (),
    parallelism: int | None = None,
    environ: Mapping[str, str] | None = None,
    gateway_timeout: float | None = None,
) -> PlanOutcome:
    """The plan of one environment; reads the state (refusing one its audit trail does not vouch for) and the live gateway."""
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
    return PlanOutcome(environment, from_checkout(plan, root), snapshot, behind_last_apply(root, env_name, state))


def from_checkout(plan: Plan, root: Path) -> Plan:
    """The plan with the Git commit checked out at ``root`` (None outside Git), which apply records with each model."""
    return replace(plan, source_commit=checkout_commit(root))


def plan_environments(
    root: Path,
    names: Sequence[str],
    *,
    parallelism: int | None = None,
    environ: Mapping[str, str] | None = None,
    gateway_timeout: float | None = None,
) -> list[EnvironmentResult[PlanOutcome]]:
    """The plan of every environment of ``names``, side by side; one that fails leaves the others planned."""

    def one(name: str) -> EnvironmentResult[PlanOutcome]:
        outcome = make_plan(root, name, parallelism=parallelism, environ=environ, gateway_timeout=gateway_timeout)
        return EnvironmentResult(name, outcome, warnings=(*(str(w) for w in outcome.environment.warnings), *outcome.warnings))

    return run_each(names, one)


def behind_last_apply(root: Path, env_name: str, state: State | None) -> tuple[str, ...]:
    """A warning when the state's last apply was made from a commit the checkout does not hold:
    planning here would undo a teammate's applied change. Silent without Git or a recorded commit."""
    recorded = [resource for resource in (state.resources.values() if state is not None else ()) if resource.source_commit]
    if not recorded:
        return ()
    last = max(recorded, key=lambda resource: resource.applied_at)
    commit = str(last.source_commit)
    if contains(root, commit) is not False:
        return ()
    models = sorted(resource.address for resource in recorded if resource.source_commit == commit)
    shown = ", ".join(models[:5]) + (f" and {len(models) - 5} more" if len(models) > 5 else "")
    return (
        f"the last apply came from a newer commit: pull first. The state of {env_name} records an apply made at {last.applied_at} "
        f"from commit {commit[:12]} ({shown}), which this checkout does not contain; a plan made here may undo it.",
    )

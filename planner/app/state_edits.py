"""``state rm`` and ``state mv``: changing what llmplan remembers, by hand.

As in Terraform, neither touches the gateway. Each goes through the
environment's records like apply does — under the lock, one unit of work
per change with its audit entry (``state_rm``, ``state_mv``) — so it works
the same in every backend and leaves a trail of who changed state and when.
Like the other records commands, they need only the environment folder and
its ``state:`` block, not valid YAML.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from planner.adapters.records.interfaces import Change
from planner.app.connections import records_of
from planner.app.session import RecordsSession
from planner.model.audit import STATE_MV_ACTION, STATE_RM_ACTION, recorded_without_request
from planner.model.errors import ConfigurationError
from planner.model.settings import ADDRESS_PATTERN, ENVIRONMENTS_DIR, MODEL_SUFFIXES, MODELS_DIR
from planner.model.state import ResourceState, State


@dataclass(frozen=True)
class StateEdit:
    """One address removed or moved; ``file``: the model file at ``address``
    (the new one for a move), if there is one, for the notes the CLI prints."""

    address: str
    model_id: str
    previous_address: str | None = None
    file: Path | None = None


def remove(root: Path, env_name: str, addresses: Sequence[str], *, lock_timeout: float = 0.0, environ: Mapping[str, str] | None = None) -> list[StateEdit]:
    """Drop ``addresses`` from state (all or none); the live configurations are left alone."""
    with _session(root, env_name, "state rm", lock_timeout, environ) as session:
        resources = [_recorded(session.state, address, env_name) for address in dict.fromkeys(addresses)]
        for resource in resources:
            session.record_one(Change(recorded_without_request(env_name, STATE_RM_ACTION, resource), forget=resource.address))
    return [StateEdit(r.address, r.model_id, file=model_file(root, env_name, r.address)) for r in resources]


def move(root: Path, env_name: str, old: str, new: str, *, lock_timeout: float = 0.0, environ: Mapping[str, str] | None = None) -> StateEdit:
    """Record the model at ``old`` under ``new`` instead; nothing is sent to the gateway."""
    if not ADDRESS_PATTERN.match(new):
        raise ConfigurationError(f"{new!r} is not a valid address: use lowercase letters, digits, '-' and '_', starting with a letter or digit")
    with _session(root, env_name, "state mv", lock_timeout, environ) as session:
        resource = _recorded(session.state, old, env_name)
        if session.state is not None and new in session.state.resources:
            raise ConfigurationError(f"{new} is already in the state of environment {env_name}", hint=f"remove it first with `llmplan state rm --env {env_name} {new}` if it is stale")
        moved = replace(resource, address=new)
        session.record_one(Change({**recorded_without_request(env_name, STATE_MV_ACTION, moved), "previous_address": old}, resource=moved, forget=old))
    return StateEdit(new, resource.model_id, previous_address=old, file=model_file(root, env_name, new))


def model_file(root: Path, env_name: str, address: str) -> Path | None:
    """The model file of ``address``, if one exists."""
    folder = root / ENVIRONMENTS_DIR / env_name / MODELS_DIR
    for suffix in MODEL_SUFFIXES:
        if (folder / f"{address}{suffix}").is_file():
            return folder / f"{address}{suffix}"
    return None


@contextmanager
def _session(root: Path, env_name: str, operation: str, lock_timeout: float, environ: Mapping[str, str] | None) -> Iterator[RecordsSession]:
    records = records_of(root, env_name, environ)
    try:
        with RecordsSession(records, operation=operation, lock_timeout=lock_timeout) as session:
            yield session
    finally:
        records.close()


def _recorded(state: State | None, address: str, env_name: str) -> ResourceState:
    resource = state.resources.get(address) if state is not None else None
    if resource is None:
        known = ", ".join(sorted(state.resources)) if state is not None and state.resources else "none"
        raise ConfigurationError(f"{address} is not in the state of environment {env_name} (addresses in state: {known})")
    return resource

"""``llmplan refresh``: record the live configuration of every managed model in state, changing nothing on the gateway.

How a reviewed out-of-band change is accepted: edit the YAML to match, then refresh.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from planner.adapters.governance import build_event
from planner.adapters.metrics import ApplyMetrics
from planner.app.connections import fetch_and_check, gateway_client, notifier, open_records
from planner.app.environments import load_environment
from planner.app.executor import Recorder
from planner.app.refreshing import refresh_state
from planner.app.session import RecordsSession
from planner.app.settling import settle
from planner.core.diff import diff_configurations
from planner.model.plan import FieldChange


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
    differs: tuple[FieldChange, ...] = ()


def refresh(root: Path, env_name: str, *, lock_timeout: float = 0.0, environ: Mapping[str, str] | None = None, gateway_timeout: float | None = None) -> list[RecordedModel]:
    """Record the live configuration of every managed model in state, changing
    nothing on the gateway: how a reviewed out-of-band change is accepted."""
    environ = os.environ if environ is None else environ
    environment = load_environment(root, env_name)
    records = open_records(environment, environ)
    try:
        sender = notifier(environment, records.outbox, environ)
        with RecordsSession(records, operation="refresh", lock_timeout=lock_timeout, trust="warn") as session:
            workers = environment.apply.parallelism
            with gateway_client(environment, parallelism=workers, environ=environ, timeout=gateway_timeout) as client:
                snapshot = fetch_and_check(environment, client, parallelism=workers)
            settle(session, snapshot.configurations, event_for=build_event if sender is not None else None)
            managed = [(model.address, model.model_id) for model in environment.models]
            known = None if session.untrusted else session.state  # a state nobody vouches for is recorded afresh from live
            recorded = refresh_state(managed, known, Recorder(session, ApplyMetrics()), snapshot.configurations, snapshot.capabilities)
    finally:
        records.close()
    desired = {model.address: model.config for model in environment.models}
    return [RecordedModel(r.address, r.model_id, r.version, differs=diff_configurations(r.configuration, desired[r.address])) for r in recorded]

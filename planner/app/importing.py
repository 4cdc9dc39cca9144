"""``llmplan import``: adopt live configurations into YAML (models/<name>.yaml) and state.

The next plan then shows no change for them. Without ``--model-id`` or
``--all``, only lists what could be imported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from planner.adapters.files import write_new_file
from planner.adapters.gateway.live import fetch_all
from planner.adapters.gateway.wire import check_model_id
from planner.adapters.governance import build_event
from planner.adapters.metrics import ApplyMetrics
from planner.app.connections import gateway_client, notifier, open_records
from planner.app.environments import load_environment
from planner.app.executor import Recorder
from planner.app.refresh import RecordedModel
from planner.app.refreshing import record_live
from planner.app.session import RecordsSession
from planner.app.settling import settle
from planner.core.drift import UnmanagedModel
from planner.core.importing import choose_addresses, model_yaml
from planner.model.audit import IMPORT_ACTION
from planner.model.errors import ConfigurationError
from planner.model.settings import MODEL_SUFFIXES, MODELS_DIR


@dataclass(frozen=True)
class ImportResult:
    imported: tuple[RecordedModel, ...]
    candidates: tuple[UnmanagedModel, ...]


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
    for model_id in model_ids:
        check_model_id(model_id)
    environ = os.environ if environ is None else environ
    environment = load_environment(root, env_name)
    records = open_records(environment, environ)
    try:
        sender = notifier(environment, records.outbox, environ)
        with RecordsSession(records, operation="import", lock_timeout=lock_timeout) as session:
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
            settle(session, snapshot.configurations, event_for=build_event if sender is not None else None)
            recorder = Recorder(session, ApplyMetrics())
            imported: list[RecordedModel] = []
            for model_id in chosen:
                live = snapshot.configurations[model_id]
                assert live is not None
                path = models_dir / f"{addresses[model_id]}.yaml"
                write_new_file(path, model_yaml(live))
                record_live(recorder, address=addresses[model_id], live=live, capabilities=snapshot.capabilities.get(model_id), action=IMPORT_ACTION)
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

"""What llmplan remembers of an environment — state, lock, audit trail, governance outbox —
behind small interfaces (:mod:`planner.adapters.records.interfaces`).

:func:`open_records` picks the backend that ``environment.yaml``'s
``state:`` block names: ``local`` (files under ``state/<env>/``, the
default) or ``postgres`` (one shared database for a team).
:class:`~planner.app.session.RecordsSession` is how a command holds
them from lock to finish.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from planner.adapters.records.interfaces import Records
from planner.adapters.records.local import LocalRecords
from planner.model.errors import ConfigurationError
from planner.model.settings import DEFAULT_DSN_ENV, StateSettings

POSTGRES_EXTRA = "pip install 'llmplan[postgres]'"


def open_records(name: str, root: Path, settings: StateSettings, *, environ: Mapping[str, str] | None = None) -> Records:
    """The records of environment ``name`` in the backend ``settings`` names."""
    if settings.backend == "postgres":
        try:
            # Lazy: psycopg is the optional `postgres` extra, loaded only for environments that use it.
            from planner.adapters.records.pg import open_postgres_records
        except ImportError as missing:
            raise ConfigurationError(
                f"environment {name} keeps its records in PostgreSQL (state.backend: postgres), but its driver is not installed ({missing.name or 'psycopg'})",
                hint=f"install it: {POSTGRES_EXTRA}",
            ) from None
        return open_postgres_records(name, settings, environ=environ)
    return LocalRecords(root / "state" / name, environment=name)


def other_backend(name: str, root: Path, settings: StateSettings, *, environ: Mapping[str, str] | None = None) -> Records | None:
    """The records of ``name`` in the backend ``settings`` does not name, if they can be looked at without asking anyone:
    the local folder, or PostgreSQL when its connection string is set (default schema) and its driver installed."""
    environ = os.environ if environ is None else environ
    if settings.backend == "postgres":
        return LocalRecords(root / "state" / name, environment=name)
    if not environ.get(DEFAULT_DSN_ENV):
        return None
    try:
        return open_records(name, root, StateSettings(backend="postgres"), environ=environ)
    except ConfigurationError:
        return None

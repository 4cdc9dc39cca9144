"""What llmplan remembers of an environment — state, lock, audit trail, governance outbox —
behind four small interfaces (:mod:`planner.adapters.records.interfaces`).

:func:`open_records` picks the backend that ``environment.yaml``'s
``state:`` block names: ``local`` (files under ``state/<env>/``, the
default) or ``postgres`` (one shared database for a team).
:class:`~planner.app.session.RecordsSession` is how a command holds
them from lock to finish.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from planner.adapters.records.interfaces import Records
from planner.adapters.records.local import LocalRecords
from planner.model.settings import StateSettings


def open_records(name: str, root: Path, settings: StateSettings, *, environ: Mapping[str, str] | None = None) -> Records:
    """The records of environment ``name`` in the backend ``settings`` names."""
    if settings.backend == "postgres":
        # Lazy: psycopg is the optional `postgres` extra, loaded only for environments that use it.
        from planner.adapters.records.pg import open_postgres_records

        return open_postgres_records(name, settings, environ=environ)
    return LocalRecords(root / "state" / name, environment=name)

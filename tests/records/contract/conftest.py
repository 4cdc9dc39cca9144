"""The backend contract suite: every test here runs unchanged against every records backend.

``backend`` is parametrized over ``local`` (files in a temp folder) and
``postgres`` (a schema of its own in a real PostgreSQL server that this
session starts; see ``tests/pg_server.py``). A backend proves itself by
passing the suite, as Terraform's remote-state backends pass
``statemgr.TestFull``. What the suite needs beyond the interfaces is in
``contract_backends.py``, one harness per backend.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator

import pytest

from planner.adapters.records.interfaces import Lease, Records
from planner.model.errors import StateError
from planner.model.settings import StateSettings
from tests.pg_server import PostgresServer
from tests.records.contract.contract_backends import BACKENDS, Backend, LocalBackend, PostgresBackend


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "local":
        chosen: Backend = LocalBackend(tmp_path, StateSettings(), {})
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        schema = f"contract_{uuid.uuid4().hex[:12]}"
        chosen = PostgresBackend(tmp_path, StateSettings(backend="postgres", schema=schema), {"LLMPLAN_PG_DSN": server.dsn}, server=server)
    yield chosen
    for records in chosen.opened:
        records.close()


@pytest.fixture
def records(backend: Backend) -> Records:
    return backend.open()


@pytest.fixture
def lease(records: Records) -> Iterator[Lease]:
    """``records``' lock, held for the test (every write needs its lease)."""
    held = records.locker.lock("test")
    yield held
    try:
        records.locker.unlock(held)
    except StateError:  # a test that gave the lock up leaves nothing to release
        pass

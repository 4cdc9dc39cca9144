"""The backend contract suite: every test here runs unchanged against every records backend.

``backend`` is parametrized over ``local`` (files in a temp folder) and
``postgres`` (a schema of its own in a real PostgreSQL server that this
session starts; see ``tests/pg_server.py``). A backend proves itself by
passing the suite, as Terraform's remote-state backends pass
``statemgr.TestFull``. What the suite needs beyond the interfaces is in
``contract_backends.py``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator

import pytest

from planner.adapters.records.interfaces import Records  # noqa: E402
from planner.model.settings import StateSettings  # noqa: E402
from tests.pg_server import PostgresServer  # noqa: E402
from tests.records.contract.contract_backends import BACKENDS, Backend  # noqa: E402


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "local":
        chosen = Backend("local", tmp_path, StateSettings(), {})
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        schema = f"contract_{uuid.uuid4().hex[:12]}"
        chosen = Backend("postgres", tmp_path, StateSettings(backend="postgres", schema=schema), {"LLMPLAN_PG_DSN": server.dsn}, server)
    yield chosen
    for records in chosen.opened:
        records.close()


@pytest.fixture
def records(backend: Backend) -> Records:
    return backend.open()


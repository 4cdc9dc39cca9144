"""Fixtures of the PostgreSQL backend's end-to-end tests: checkouts that share one database.

Each test gets a schema of its own in the session's PostgreSQL server
(``postgres`` in tests/conftest.py) and the sandbox gateway; a "checkout" is
a project folder (its own ``--root``) whose ``environment.yaml`` says
``state: {backend: postgres}``, as a CI runner's or a laptop's checkout of
the same repository would.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.apply.project import WEBHOOK_SECRET, SandboxAdmin  # noqa: E402
from tests.postgres.pg_project import PgProject  # noqa: E402

MODELS = 6


@pytest.fixture
def schema() -> str:
    return f"e2e_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def sandbox(make_sandbox: Callable[..., Any]) -> Any:
    """The sandbox gateway with generated models and a budget no test waits for."""
    return make_sandbox(rate_limit=30_000, extra_models=MODELS, webhook_secret=WEBHOOK_SECRET)


@pytest.fixture
def gateway(sandbox: Any) -> SandboxAdmin:
    return SandboxAdmin(sandbox.url)


@pytest.fixture
def checkout(tmp_path: Path, sandbox: Any, postgres: Any, schema: str) -> Callable[[str], PgProject]:
    """``checkout(name)``: another folder with the same environment files, sharing the database."""
    made: dict[str, PgProject] = {}

    def make(name: str) -> PgProject:
        if name not in made:
            project = PgProject(tmp_path / name, sandbox.url, dsn=postgres.dsn, schema=schema, webhook_url=f"{sandbox.url}/__sandbox/webhook")
            project.add_generated(MODELS)
            made[name] = project
        return made[name]

    return make


@pytest.fixture
def first(checkout: Callable[[str], PgProject]) -> PgProject:
    return checkout("runner-a")


@pytest.fixture
def second(checkout: Callable[[str], PgProject]) -> PgProject:
    return checkout("laptop-b")


@pytest.fixture
def pg_admin(postgres: Any, schema: str) -> Iterator[Callable[[str], list[tuple[Any, ...]]]]:
    """Run SQL in the test's schema as llmplan's role (to look at or tamper with the records)."""
    import psycopg
    from psycopg import sql

    connection = psycopg.connect(postgres.dsn, autocommit=True)

    def run(statement: str, *params: Any) -> list[tuple[Any, ...]]:
        cursor = connection.execute(sql.SQL(statement).format(s=sql.Identifier(schema)), params)
        return cursor.fetchall() if cursor.description else []

    yield run
    connection.close()

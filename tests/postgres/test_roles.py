"""A role that may only read the records: what a pull request's plan and the
hourly drift check get in CI, where whoever can push a branch can change the
workflow and so use its connection string. It can plan, check drift and read
the records; it cannot change them, and says so without a traceback."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tests.pg_server import PASSWORD
from tests.postgres.pg_project import READER_PASSWORD, PgProject, reader_dsn


def test_a_read_only_role_plans_and_checks_drift_but_cannot_apply(first: PgProject, postgres: Any, schema: str) -> None:
    first.apply()  # the writer creates the tables and records the state
    role, dsn = reader_dsn(postgres, schema)
    reader = {"LLMPLAN_PG_DSN": dsn}

    # what CI's read-only jobs run: plan, drift, state show, audit verify
    for args in (("plan", "--env", "dev", "--detailed-exitcode"), ("drift", "--env", "dev"), ("state", "show", "--env", "dev"), ("audit", "verify", "--env", "dev")):
        done = first.run(*args, env=reader)
        assert done.code == 0, str(done)
    assert "not locked" in first.run("state", "show", "--env", "dev", env=reader).stdout

    first.edit_model("bench-00001", "max_tokens: 1024", "max_tokens: 1111")
    assert first.run("plan", "--env", "dev", "--detailed-exitcode", env=reader).code == 2
    refused = first.run("apply", "--env", "dev", "--auto-approve", env=reader)
    assert refused.code == 1
    assert f"Error: the role {role} may not do this in PostgreSQL {role}@127.0.0.1" in refused.stderr
    assert "permission denied for table" in refused.stderr and "need only USAGE on the schema and SELECT" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert READER_PASSWORD not in refused.stdout + refused.stderr and PASSWORD not in refused.stdout + refused.stderr
    assert first.state_view()["state"]["serial"] == 1, "nothing was recorded by the reader"


def test_a_read_only_role_cannot_create_the_tables_of_a_new_schema(first: PgProject, postgres: Any, schema: str) -> None:
    first.apply()
    _, dsn = reader_dsn(postgres, schema)
    text = (first.env_dir / "environment.yaml").read_text(encoding="utf-8")
    (first.env_dir / "environment.yaml").write_text(text.replace(f"schema: {schema}", f"schema: {schema}_new"), encoding="utf-8")
    done = first.run("plan", "--env", "dev", env={"LLMPLAN_PG_DSN": dsn})
    assert done.code == 1
    assert f"(schema {schema}_new): permission denied for database llmplan" in done.stderr and "Traceback" not in done.stderr


def test_the_roles_of_the_ci_readme_work_as_it_says(first: PgProject, postgres: Any, schema: str) -> None:
    """examples/ci/github-actions/postgres/README.md: an administrator makes the schema and two roles,
    neither with CREATE on the database; the writer's first command makes the tables, the reader reads them."""
    readme = Path(__file__).resolve().parents[2] / "examples" / "ci" / "github-actions" / "postgres" / "README.md"
    (block,) = re.findall(r"```sql\n(.*?)```", readme.read_text(encoding="utf-8"), re.DOTALL)
    database = f"db_{schema}"
    writer, reader = f"ci_{schema}", f"read_{schema}"
    statements = block.replace("llmplan_ci", writer).replace("llmplan_read", reader).replace("SCHEMA llmplan", f"SCHEMA {schema}")
    statements = statements.replace("PASSWORD '…';   -- apply", f"PASSWORD '{READER_PASSWORD}w';   -- apply").replace("PASSWORD '…';", f"PASSWORD '{READER_PASSWORD}';")
    assert "…" not in statements
    postgres.psql(f"CREATE DATABASE {database}")  # owned by the superuser: neither role may create schemas in it
    postgres.psql_in(database, statements)
    parts = urlsplit(postgres.dsn)

    def dsn(role: str, password: str) -> dict[str, str]:
        return {"LLMPLAN_PG_DSN": urlunsplit(parts._replace(netloc=f"{role}:{password}@{parts.hostname}:{parts.port}", path=f"/{database}"))}

    applied = first.run("apply", "--env", "dev", "--auto-approve", env=dsn(writer, f"{READER_PASSWORD}w"))
    assert applied.code == 0, str(applied)
    for args in (("plan", "--env", "dev", "--detailed-exitcode"), ("drift", "--env", "dev"), ("audit", "verify", "--env", "dev")):
        done = first.run(*args, env=dsn(reader, READER_PASSWORD))
        assert done.code == 0, str(done)
    refused = first.run("apply", "--env", "dev", "--auto-approve", env=dsn(reader, READER_PASSWORD))
    assert refused.code == 1 and f"Error: the role {reader} may not do this" in refused.stderr

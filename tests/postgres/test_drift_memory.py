"""The last drift result in PostgreSQL: kept by a role that may write; a read-only role's
drift check (what CI's hourly job gets) still works and says the result was not kept."""

from __future__ import annotations

from typing import Any, Callable

from tests.postgres.pg_project import PgProject, reader_dsn


def test_drift_results_are_shared_by_checkouts_and_a_reader_is_told_it_cannot_keep_one(first: PgProject, second: PgProject, postgres: Any, schema: str, pg_admin: Callable[..., list[tuple[Any, ...]]]) -> None:
    first.apply()
    assert first.run("drift", "--env", "dev").code == 0
    (row,) = pg_admin("SELECT environment, result FROM {s}.drift_results")
    assert row[0] == "dev" and '"drifted":[]' in row[1]

    _, dsn = reader_dsn(postgres, schema)
    second.edit_model("bench-00001", "max_tokens: 1024", "max_tokens: 1111")  # a YAML change not applied yet
    done = second.run("drift", "--env", "dev", env={"LLMPLAN_PG_DSN": dsn})
    assert done.code == 2, str(done)
    assert "the drift result was not remembered for `llmplan report --offline`: the role reader_" in done.stderr
    assert "Traceback" not in done.stderr
    assert pg_admin("SELECT result FROM {s}.drift_results") == [(row[1],)]  # the writer's result stays

"""`llmplan report` of an environment whose records are in PostgreSQL: the window read through
the timestamp index, the last drift result from its table, and the connection string's
password nowhere in the site."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from planner.model.catalog import generated_model_id
from tests.pg_server import PASSWORD
from tests.postgres.pg_project import PgProject
from tests.report.fleet import text_of


def test_a_postgres_environment_reports_like_a_local_one(first: PgProject, gateway: Any, tmp_path: Path, pg_admin: Callable[..., list[tuple[Any, ...]]]) -> None:
    first.apply()
    first.edit_model("bench-00001", "max_tokens: 1024", "max_tokens: 2048")
    assert first.run("apply", "--env", "dev", "--auto-approve").code == 0
    gateway.patch(generated_model_id(2), safety_filters=[{"filter_type": "pii", "action": "flag", "threshold": 80}, {"filter_type": "profanity", "action": "flag", "threshold": 60}])
    assert first.run("drift", "--env", "dev").code == 2

    site = tmp_path / "site"
    done = first.run("report", "--out", str(site), "--env", "dev", "--offline")
    assert done.code == 0, str(done)
    index = text_of((site / "index.html").read_text(encoding="utf-8"))
    assert "dev · bench-00002 (last drift check" in index
    assert "1 applied, 0 failed" in index and "✓ verified" in index
    assert "records PostgreSQL llmplan@127.0.0.1:" in index and f"(schema {first.schema}), environment dev" in index
    changed = text_of((site / "models" / "bench-00001.html").read_text(encoding="utf-8"))
    assert "Fields changed by this update field before after max_tokens 1024 2048" in changed

    live = first.run("report", "--out", str(site), "--env", "dev")
    assert live.code == 0, str(live)
    assert "read live" in text_of((site / "index.html").read_text(encoding="utf-8"))
    everything = "".join(path.read_text(encoding="utf-8") for path in site.rglob("*") if path.is_file())
    assert PASSWORD not in everything and first.dsn not in everything
    assert pg_admin("SELECT count(*) FROM {s}.drift_results") == [(1,)]

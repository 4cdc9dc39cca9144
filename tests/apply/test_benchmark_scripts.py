"""The apply benchmarks still run llmplan apply as a whole process and report each case beside its bound
(tiny numbers, run as `make bench` runs them; not timing tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmark_scripts import run_benchmark
from tests.pg_server import PostgresServer


def test_apply_1000_runs_the_latency_bound_and_the_rate_bound_case(tmp_path: Path) -> None:
    last, document, _ = run_benchmark("apply_1000", tmp_path / "apply.json", "--models", "20", "--skip-budget", "--skip-reference")
    startup = document["startup_seconds"]
    latency, rate = document["latency_bound"], document["rate_bound"]
    # max(N x RTT / P, N / rate) + start-up: 20 x 50 ms / 10 = 0.1 s; 20 / 100 per s = 0.2 s
    assert latency["bound_seconds"] == pytest.approx(startup + 0.1, abs=0.002)
    assert rate["bound_seconds"] == pytest.approx(startup + 0.2, abs=0.002)
    for case in (latency, rate):
        ours = case["llmplan"]
        assert ours["exit_code"] == 0 and ours["state_resources"] == 20 and ours["audit_success_entries"] == 20 and ours["audit_verifies"]
    assert latency["bare_client_put_seconds"] > 0  # the sandbox's own cost, measured beside llmplan's
    assert "latency-bound" in last and "rate-bound" in last and "x the bound" in last


def test_apply_1000_postgres_holds_both_backends_to_the_same_bound(tmp_path: Path, postgres: PostgresServer) -> None:
    last, document, _ = run_benchmark("apply_1000_postgres", tmp_path / "pg.json", "--models", "12", "--runs", "1", "--dsn", postgres.dsn)
    assert document["bound_seconds"] == pytest.approx(document["startup_seconds"] + 12 * 0.05 / 10, abs=0.002)
    assert sorted(run["backend"] for run in document["runs"]) == ["local", "postgres"]
    assert all(run["resources"] == 12 and run["audit_verifies"] for run in document["runs"])
    assert "PostgreSQL" in last and "local files" in last

"""The throughput benchmark still runs and writes its result file (tiny numbers; not a timing test)."""

from __future__ import annotations

from pathlib import Path

from tests.benchmark_scripts import run_benchmark


def test_the_benchmark_runs_end_to_end_and_reports(tmp_path: Path) -> None:
    _, report, _ = run_benchmark("sandbox_throughput", tmp_path / "throughput.json", "--requests", "40", "--processes", "1", exit_codes=(0,))
    assert [s["scenario"] for s in report["scenarios"]] == ["requests, 1 session", "requests, 1 process", "http.client, 1 process"]
    assert all(s["requests"] == 40 and s["connections_per_client"] == 1 for s in report["scenarios"])  # keep-alive: one connection
    assert report["goal_requests_per_second"] == 1000

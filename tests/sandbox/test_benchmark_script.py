"""The throughput benchmark still runs and writes its result file (tiny numbers; not a timing test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_runs_end_to_end_and_reports(tmp_path: Path) -> None:
    output = tmp_path / "throughput.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.sandbox_throughput", "--requests", "40", "--processes", "1", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("sandbox_throughput: ")
    report = json.loads(output.read_text())
    assert [s["scenario"] for s in report["scenarios"]] == ["requests, 1 session", "requests, 1 process", "http.client, 1 process"]
    assert all(s["requests"] == 40 and s["connections_per_client"] == 1 for s in report["scenarios"])  # keep-alive: one connection
    assert report["goal_requests_per_second"] == 1000

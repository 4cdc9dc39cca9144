"""benchmarks/plan_10_envs.py still runs and reports (a tiny size; not a timing test: the figure is not judged here)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_plans_its_environments_together_and_reports(tmp_path: Path) -> None:
    output = tmp_path / "plan_10_envs.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.plan_10_envs", "--environments", "3", "--latency-ms", "5", "--runs", "1", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode in (0, 1), result.stderr  # 1: the goal was missed, which a loaded test machine may do
    assert re.fullmatch(r"plan_10_envs: [\d.]+ s for 3 environments = [\d.]+ x one \([\d.]+ s\) \(goal <= 2 x one environment; load [\d.]+\) (PASS|MISS)", result.stdout.strip().splitlines()[-1])
    report = json.loads(output.read_text(encoding="utf-8"))
    assert (report["environments"], report["models_per_environment"], report["latency_ms"]) == (3, 5, 5.0)
    assert report["requests_per_environment"] > 0 and report["ok"] == (result.returncode == 0)

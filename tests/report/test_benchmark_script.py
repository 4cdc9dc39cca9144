"""The report_10k benchmark still runs and writes its result file (tiny numbers; not a timing test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_runs_end_to_end_and_reports(tmp_path: Path) -> None:
    output = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.report_10k", "--environments", "2", "--models", "12", "--entries", "400", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("report_10k: ")
    document = json.loads(output.read_text(encoding="utf-8"))
    assert (document["environments"], document["models"], document["entries"]) == (2, 12, 400)
    assert document["window_30_days"]["pages"] == 3 + 12 and len(document["window_30_days"]["seconds"]) == 3

"""The report_10k benchmark still runs and writes its result file (tiny numbers; not a timing test)."""

from __future__ import annotations

from pathlib import Path

from tests.benchmark_scripts import run_benchmark


def test_the_benchmark_runs_end_to_end_and_reports(tmp_path: Path) -> None:
    _, document, _ = run_benchmark("report_10k", tmp_path / "report.json", "--environments", "2", "--models", "12", "--entries", "400", exit_codes=(0,))
    assert (document["environments"], document["models"], document["entries"]) == (2, 12, 400)
    assert document["window_30_days"]["pages"] == 3 + 12 and len(document["window_30_days"]["seconds"]) == 3

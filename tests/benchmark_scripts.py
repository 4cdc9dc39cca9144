"""Runs a benchmark script as `make bench` runs it, with tiny numbers, for the
tests that check it still measures and reports (not timing tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]


class BenchmarkRun(NamedTuple):
    last: str  # the summary line
    document: dict[str, Any]  # the results file
    code: int


def run_benchmark(name: str, output: Path, *arguments: str, exit_codes: tuple[int, ...] = (0, 1)) -> BenchmarkRun:
    """The script's summary line, its results file and its exit code. Exit 1 (a goal
    missed) is accepted by default: tiny runs, where start-up dominates, on a busy machine may."""
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", *arguments, "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
        env={**os.environ, "LLMPLAN_BENCH_STARTUP_RUNS": "2"},
    )
    assert done.returncode in exit_codes, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith(f"{name}: ") and last.endswith((" PASS", " MISS")), done.stdout
    return BenchmarkRun(last, json.loads(output.read_text(encoding="utf-8")), done.returncode)

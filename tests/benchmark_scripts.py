"""Runs a benchmark script as `make bench` runs it, with tiny numbers, for the
tests that check it still measures and reports (not timing tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(name: str, output: Path, *arguments: str) -> tuple[str, dict[str, Any]]:
    """The script's summary line and its results file. Exit 1 (a goal missed)
    is accepted: tiny runs, where start-up dominates, on a busy machine may."""
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", *arguments, "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
        env={**os.environ, "LLMPLAN_BENCH_STARTUP_RUNS": "2"},
    )
    assert done.returncode in (0, 1), done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith(f"{name}: ") and last.endswith((" PASS", " MISS")), done.stdout
    return last, json.loads(output.read_text(encoding="utf-8"))

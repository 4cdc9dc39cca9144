"""`make bench` and `make reliability`: run each script, then every figure with its goal.

    .venv/bin/python benchmarks/run.py bench          # startup, noop_plan_10k, plan_1000, apply_1000, sandbox_throughput
    .venv/bin/python benchmarks/run.py reliability    # crash_trials, fault_storm, fuzz_inputs, secret_canary

Each script runs as its own process (its output shown as it comes) and ends
with ``<name>: <figure> (goal <goal>) PASS|MISS``; those lines are repeated
at the end.  Exit 0 when every script met its goals, 1 otherwise (every
script runs either way).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITES = {
    "bench": ("startup", "noop_plan_10k", "plan_1000", "apply_1000", "sandbox_throughput"),
    "reliability": ("crash_trials", "fault_storm", "fuzz_inputs", "secret_canary"),
}


def run(name: str) -> tuple[str, float]:
    """Run one script; its summary line (or why there is none) and its duration."""
    began = time.monotonic()
    print(f"\n=== {name} ===", flush=True)
    process = subprocess.Popen([sys.executable, str(HERE / f"{name}.py")], cwd=HERE.parent, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    summary = None
    for line in process.stdout:
        print(line, end="", flush=True)
        if line.startswith(f"{name}: "):
            summary = line.rstrip("\n")
    code = process.wait()
    elapsed = time.monotonic() - began
    if summary is None:
        summary = f"{name}: no result (the script exited {code}) ERROR"
    return summary, elapsed


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in SUITES:
        print(f"usage: {sys.argv[0]} {'|'.join(SUITES)}", file=sys.stderr)
        return 2
    suite = sys.argv[1]
    began = time.monotonic()
    results = [run(name) for name in SUITES[suite]]
    total = time.monotonic() - began
    met = sum(summary.endswith(" PASS") for summary, _ in results)
    print(f"\n=== make {suite}: {met}/{len(results)} met their goals in {total:.0f} s ===")
    for summary, elapsed in results:
        print(f"{summary}   [{elapsed:.0f} s]")
    return 0 if met == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())

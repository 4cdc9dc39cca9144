"""`make bench` and `make reliability`: run each script, then every figure with its goal.

    .venv/bin/python -m benchmarks.run bench          # startup, validate_10k, plan_10k, plan_1000, plan_10_envs, apply_1000, apply_1000_postgres, history_scale, report_10k, sandbox_throughput
    .venv/bin/python -m benchmarks.run reliability    # crash_trials, fault_storm, lost_answer_storm, fuzz_inputs, deadlines, secret_canary, stall_trials, lock_loss_trials

Each script runs as its own process and ends with ``<name>: <figure> (goal
<goal>; load L) PASS|MISS``, the figure beside its bound and ratio where the
script computes one; those lines are repeated at the end.  Benchmarks run one
at a time, so none disturbs another's timing.  In the reliability suite the
fault storm (which spends most of its minute waiting out backoffs) runs
beside the crash trials, the deadlines (which wait for gateways that
never answer) beside the fuzzing, and the stall trials (which wait for
peers that stall) beside the secret canary; their output is shown when they end.  Exit 0 when
every script met its goals, 1 otherwise (every script runs either way).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Stages run one after the other; the scripts of a stage side by side (the first one's output live).
SUITES: dict[str, tuple[tuple[str, ...], ...]] = {
    "bench": (("startup",), ("validate_10k",), ("plan_10k",), ("plan_1000",), ("plan_10_envs",), ("apply_1000",), ("apply_1000_postgres",), ("history_scale",), ("report_10k",), ("sandbox_throughput",)),
    "reliability": (("crash_trials", "fault_storm"), ("lost_answer_storm",), ("fuzz_inputs", "deadlines"), ("secret_canary", "stall_trials"), ("lock_loss_trials",)),
}


def summary_of(name: str, output: str, code: int) -> str:
    for line in reversed(output.splitlines()):
        if line.startswith(f"{name}: "):
            return line
    return f"{name}: no result (the script exited {code}) ERROR"


def run_stage(names: tuple[str, ...]) -> list[tuple[str, float]]:
    """Run a stage's scripts; each one's summary line and duration."""
    began = time.monotonic()
    command = lambda name: [sys.executable, "-m", f"benchmarks.{name}"]  # noqa: E731
    print(f"\n=== {' + '.join(names)} ===", flush=True)
    beside = {name: (subprocess.Popen(command(name), cwd=HERE.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), time.monotonic()) for name in names[1:]}
    lead = subprocess.Popen(command(names[0]), cwd=HERE.parent, stdout=subprocess.PIPE, text=True)
    assert lead.stdout is not None
    lines = []
    for line in lead.stdout:
        print(line, end="", flush=True)
        lines.append(line)
    results = [(summary_of(names[0], "".join(lines), lead.wait()), time.monotonic() - began)]
    for name, (process, started) in beside.items():
        output, _ = process.communicate()
        print(f"\n=== {name} (ran beside {names[0]}) ===\n{output}", end="", flush=True)
        results.append((summary_of(name, output, process.returncode), time.monotonic() - started))
    return results


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in SUITES:
        print(f"usage: {sys.argv[0]} {'|'.join(SUITES)}", file=sys.stderr)
        return 2
    suite = sys.argv[1]
    began = time.monotonic()
    results = [result for stage in SUITES[suite] for result in run_stage(stage)]
    total = time.monotonic() - began
    met = sum(summary.endswith(" PASS") for summary, _ in results)
    print(f"\n=== make {suite}: {met}/{len(results)} met their goals in {total:.0f} s ===")
    for summary, elapsed in results:
        print(f"{summary}   [{elapsed:.0f} s]")
    return 0 if met == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())

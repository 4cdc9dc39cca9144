"""Crash trials: applies killed with SIGKILL at a random instant, then checked.

Run from the repository root (about 4 minutes for 100 trials on 2 cores):

    .venv/bin/python -m benchmarks.crash_trials [--trials 100] [--models 200] [--workers 2]

Each trial (``tests/apply/crash_checks.py``, the same code the test suite runs
for a few trials): a fresh project of ``--models`` generated models and a
fresh sandbox whose PUT answers come 30 ms after the change is applied; odd
seeds first apply everything and then change every model, so the kill hits
updates over an existing state.json.  A real ``llmplan apply`` child
(parallelism 10) is killed with SIGKILL after a random number of recorded
outcomes plus a random fraction of a round trip.  Afterwards: state parses
and no lock is left; state agrees with the audit trail and with the gateway;
``audit verify`` passes, or reports a torn last line that ``audit verify
--repair`` sets aside (counted); a re-run of apply succeeds and
``plan --detailed-exitcode`` exits 0; every model's live version is the one
state records; every PUT the gateway answered 200 has exactly one success
entry, every intent an outcome; governance received every success.

Prints ``crash trials: N/N converged``; a failed trial prints its seed (replay
it with ``--seed S --trials 1``) and what broke.  Results go to
``benchmarks/results/crash_trials.json``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
import traceback
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks._common import finish  # noqa: E402
from tests.apply.crash_checks import sigkill_trial  # noqa: E402  (tests/apply, on the path via _common)

NAME = "crash_trials"
LATENCY_MS = 30.0
PARALLELISM = 10


def run_trial(seed: int, models: int) -> dict[str, Any]:
    from planner.sandbox import start_sandbox

    began = time.monotonic()
    with ExitStack() as stack:

        def make_sandbox(**options: Any) -> Any:
            # in this process (the apply under test is a child process of its own): a
            # sandbox process per trial would cost more CPU than the trial's checks
            return stack.enter_context(start_sandbox(**options))

        try:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="llmplan-crash-"))
            result = sigkill_trial(seed, Path(directory) / "project", make_sandbox, models=models, parallelism=PARALLELISM, latency_ms=LATENCY_MS)
            return {"ok": True, **asdict(result), "seconds": round(time.monotonic() - began, 2)}
        except Exception as error:  # AssertionError above all: the trial's verdict, reported with its seed
            return {"ok": False, "seed": seed, "error": f"{type(error).__name__}: {error}"[:3000], "traceback": traceback.format_exc()[-4000:], "seconds": round(time.monotonic() - began, 2)}


def _worker(arguments: tuple[int, int]) -> dict[str, Any]:
    return run_trial(*arguments)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0, help="seed of the first trial (trial i uses seed + i)")
    parser.add_argument("--workers", type=int, default=2, help="trials run side by side in this many processes (default 2)")
    options = parser.parse_args()
    seeds = [(options.seed + index, options.models) for index in range(options.trials)]
    began = time.monotonic()
    results: list[dict[str, Any]] = []
    context = multiprocessing.get_context("fork")
    with context.Pool(options.workers) as pool:
        for result in pool.imap_unordered(_worker, seeds):
            results.append(result)
            if not result["ok"]:
                print(f"  trial seed {result['seed']} FAILED after {result['seconds']} s: {result['error']}", flush=True)
            if len(results) % 10 == 0:
                print(f"  {len(results)}/{options.trials} trials done, {sum(r['ok'] for r in results)} converged ({time.monotonic() - began:.0f} s)", flush=True)
    elapsed = time.monotonic() - began
    converged = sum(result["ok"] for result in results)
    passed = [result for result in results if result["ok"]]
    torn = sum(result["torn_audit_line"] for result in passed)
    summary = {
        "trials": options.trials,
        "models": options.models,
        "parallelism": PARALLELISM,
        "put_answer_delay_ms": LATENCY_MS,
        "converged": converged,
        "torn_audit_lines_repaired": torn,
        "killed_after_outcomes": sorted(result["outcomes_seen"] for result in passed),
        "elapsed_seconds": round(elapsed, 1),
        "trials_detail": sorted(results, key=lambda result: result["seed"]),
    }
    print(f"crash trials: {converged}/{options.trials} converged ({options.models} models each, {torn} torn audit line(s) reported and repaired, {elapsed:.0f} s)", flush=True)
    return finish(NAME, f"{converged}/{options.trials} converged, {torn} torn audit lines repaired", f"{options.trials}/{options.trials}", converged == options.trials, summary)


if __name__ == "__main__":
    raise SystemExit(main())

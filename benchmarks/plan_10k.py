"""`llmplan plan` of 10,000 models with the live fetch, as a whole process, against the floor plus the paged fetch.

Run from the repository root (about a minute):

    .venv/bin/python -m benchmarks.plan_10k [--models N] [--runs 5] [--latency-ms 20]

The sandbox (its own process, rate limit out of the way) answers every
request after ``--latency-ms``; its N models are configured as the YAML
says, so the plan is N no-ops, computed from the live configurations read
with the paged list (100 models a page, the first page alone, the others
``parallelism`` at a time).  ``llmplan plan --env bench --detailed-exitcode``
runs ``--runs`` times, each a fresh process; the figure is the median.

Bound = the CSafeLoader floor of the same files (the measured start-up of
``llmplan plan --help``, which imports the HTTP client, + ``yaml.load`` of
every file with libyaml, as ``validate_10k`` measures it, each run beside
one of llmplan's) + the paged fetch's round trips at the sandbox's latency:
the token, the first page, then ceil((pages - 1) / parallelism) rounds.
Goals: ≤ 2.0 s, peak RSS ≤ 200 MB.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._common import CREDENTIALS, ApplyProject, cli_environ, configure_live, finish, llmplan_command, measured, median, ratio_line, sandbox_process, yaml_floor, yaml_load_seconds  # noqa: E402

NAME = "plan_10k"
PARALLELISM = 10
PAGE_SIZE = 100
GOAL_SECONDS = 2.0
GOAL_MB = 200.0


def fetch_round_trips(models: int, parallelism: int = PARALLELISM, page_size: int = PAGE_SIZE) -> int:
    """Round trips of the paged fetch: the token, the first page, the other pages ``parallelism`` at a time."""
    pages = max(1, math.ceil(models / page_size))
    return 2 + math.ceil((pages - 1) / parallelism)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5, help="runs of llmplan plan; the median is the figure (default 5)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="the sandbox's latency for every request (default 20)")
    parser.add_argument("--output", type=Path, help="where the results go (default benchmarks/results/plan_10k.json)")
    options = parser.parse_args()
    environ = cli_environ(CREDENTIALS)
    with tempfile.TemporaryDirectory(prefix="llmplan-bench-") as directory, sandbox_process(
        "--no-catalog", "--latency-ms", f"{options.latency_ms:g}", "--rate-limit", "100000000"
    ) as sandbox:
        configure_live(sandbox.url, options.models)  # every model as the YAML says: N no-ops
        project = ApplyProject(Path(directory) / "project", sandbox.url, env="bench")
        project.write_environment(parallelism=PARALLELISM, max_change_percent=100)
        project.add_generated(options.models)
        command = [*llmplan_command(), "plan", "--env", "bench", "--root", str(project.root), "--detailed-exitcode"]
        runs, loads, requests_per_run = [], [], []
        for _ in range(options.runs):
            loads.append(yaml_load_seconds(project.env_dir))
            sandbox.admin.clear_requests()
            done = measured(command, environ=environ, timeout=300)
            if done.code != 0 or "No changes." not in done.stdout:
                raise SystemExit(f"llmplan plan did not find {options.models} no-ops (exit {done.code}):\n{done.stdout[-1000:]}\n{done.stderr[-2000:]}")
            runs.append(done)
            requests_per_run.append(len(sandbox.admin.requests()))
        floor = yaml_floor(project.env_dir, "plan", loads=loads)
    round_trips = fetch_round_trips(options.models)
    fetch = round_trips * options.latency_ms / 1000
    bound = floor.seconds + fetch
    seconds = median([run.seconds for run in runs])
    peak = max(run.peak_rss_mb for run in runs)
    results: dict[str, Any] = {
        "models": options.models,
        "latency_ms": options.latency_ms,
        "parallelism": PARALLELISM,
        "floor": floor.to_dict(),
        "fetch_round_trips": round_trips,
        "fetch_seconds": round(fetch, 3),
        "bound_seconds": round(bound, 3),
        "plan_seconds": round(seconds, 3),
        "plan_runs_seconds": [round(run.seconds, 3) for run in runs],
        "plan_cpu_seconds": [round(run.cpu_seconds, 3) for run in runs],
        "requests_per_plan": requests_per_run,
        "peak_rss_mb": round(peak, 1),
        "ratio": round(seconds / bound, 3),
    }
    print(
        f"plan of {options.models} models (no-ops) at {options.latency_ms:g} ms: {seconds:.2f} s (median of {len(runs)}: {', '.join(format(run.seconds, '.2f') for run in runs)}), "
        f"{requests_per_run[-1]} requests, peak RSS {peak:.0f} MB; bound {bound:.2f} s = floor {floor.seconds:.2f} s (start-up {floor.startup_seconds:.2f} + "
        f"CSafeLoader load {floor.load_seconds:.2f}) + {round_trips} round trips x {options.latency_ms:g} ms",
        flush=True,
    )
    ok = seconds <= GOAL_SECONDS and peak <= GOAL_MB
    figure = f"{ratio_line(seconds, bound, f'floor + {round_trips} round trips at {options.latency_ms:g} ms')}, {peak:.0f} MB peak for {options.models} models"
    return finish(NAME, figure, f"<= {GOAL_SECONDS:g} s with the live fetch, <= {GOAL_MB:g} MB", ok, results, output=options.output)


if __name__ == "__main__":
    raise SystemExit(main())

"""`llmplan validate` of 10,000 model files, as a whole process, against the CSafeLoader floor.

Run from the repository root (about 30 s):

    .venv/bin/python -m benchmarks.validate_10k [--models N] [--runs 5]

Writes an environment of N model files (generated models, one file each).
The floor is the least any command reading them can take: llmplan's
measured start-up (``llmplan validate --help``, median) plus reading the same
files and loading each with ``yaml.load(..., Loader=yaml.CSafeLoader)``
(libyaml, in a fresh process; the loop alone).  ``llmplan validate --env
bench`` runs ``--runs`` times, each a fresh process as a user or CI runs
it, each run beside one of the floor's (so both see the same machine); the
figure is the median, beside the floor's median, and the peak RSS the
largest (the kernel's ``ru_maxrss`` of that process).  llmplan does more than the floor
(positions of every value for messages, duplicate keys refused, schema and
policy checks) yet composes with the same C library, once per file.

Goals: ≤ 1.0 s, ≤ 1.5 × the floor, peak RSS ≤ 200 MB.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks._common import ApplyProject, cli_environ, finish, llmplan_command, measured, median, ratio_line, yaml_floor, yaml_load_seconds  # noqa: E402

NAME = "validate_10k"
GOAL_SECONDS = 1.0
GOAL_RATIO = 1.5
GOAL_MB = 200.0


def write_project(directory: Path, models: int) -> ApplyProject:
    project = ApplyProject(directory / "project", "http://127.0.0.1:9", env="bench")  # never contacted: validate is offline
    project.write_environment(parallelism=10, max_change_percent=100)
    project.add_generated(models)
    return project


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5, help="runs of llmplan validate; the median is the figure (default 5)")
    parser.add_argument("--output", type=Path, help="where the results go (default benchmarks/results/validate_10k.json)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmplan-bench-") as directory:
        project = write_project(Path(directory), options.models)
        command = [*llmplan_command(), "validate", "--env", "bench", "--root", str(project.root)]
        runs, loads = [], []
        for _ in range(options.runs):
            loads.append(yaml_load_seconds(project.env_dir))
            runs.append(measured(command, environ=cli_environ(), timeout=300))
        floor = yaml_floor(project.env_dir, "validate", loads=loads)
    failed = [run for run in runs if run.code != 0 or f"{options.models} models valid" not in run.stdout]
    if failed:
        raise SystemExit(f"llmplan validate did not report {options.models} valid models (exit {failed[0].code}):\n{failed[0].stdout[-1000:]}\n{failed[0].stderr[-2000:]}")
    seconds = median([run.seconds for run in runs])
    peak = max(run.peak_rss_mb for run in runs)
    ratio = seconds / floor.seconds
    results = {
        "models": options.models,
        "floor": floor.to_dict(),
        "validate_seconds": round(seconds, 3),
        "validate_runs_seconds": [round(run.seconds, 3) for run in runs],
        "validate_cpu_seconds": [round(run.cpu_seconds, 3) for run in runs],
        "peak_rss_mb": round(peak, 1),
        "ratio": round(ratio, 3),
    }
    print(
        f"validate of {options.models} models: {seconds:.2f} s (median of {len(runs)}: {', '.join(format(run.seconds, '.2f') for run in runs)}), peak RSS {peak:.0f} MB; "
        f"floor {floor.seconds:.2f} s = start-up {floor.startup_seconds:.2f} s + CSafeLoader load of {floor.files} files {floor.load_seconds:.2f} s; ratio {ratio:.2f}",
        flush=True,
    )
    ok = seconds <= GOAL_SECONDS and ratio <= GOAL_RATIO and peak <= GOAL_MB
    figure = f"{ratio_line(seconds, floor.seconds, 'start-up + CSafeLoader floor')}, {peak:.0f} MB peak for {options.models} models"
    return finish(NAME, figure, f"<= {GOAL_SECONDS:g} s, <= {GOAL_RATIO} x the floor, <= {GOAL_MB:g} MB", ok, results, output=options.output)


if __name__ == "__main__":
    raise SystemExit(main())

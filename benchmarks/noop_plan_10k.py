"""The CPU side of a no-op plan of 10,000 models: load the YAML, validate, diff.

Run from the repository root (about 15 s):

    .venv/bin/python -m benchmarks.noop_plan_10k [--models N] [--profile]

Writes an environment of N model files (generated models, one file each),
and a live snapshot equal to them (each configuration at version 1, as the
gateway would return it).  A fresh interpreter then imports the planner,
reads the snapshot, and times ``planner.app.environments.load_environment`` (read,
parse, validate) and ``planner.core.planning.build_plan`` (normalize, hash, diff)
with live = desired, so every model is a no-op.  No network.  Peak RSS is
the child's ``ru_maxrss`` at the end.  Goal: < 2 s and < 300 MB.

``--profile`` runs the same under cProfile and prints the top functions by
own time (also saved in the results file).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from benchmarks._common import ROOT, ApplyProject, finish, timed  # noqa: E402
from planner.model.catalog import generated_model_id  # noqa: E402
from tests.apply.project import expected_payload  # noqa: E402

NAME = "noop_plan_10k"
GOAL_SECONDS = 2.0
GOAL_MB = 300.0

# Runs in a fresh interpreter: argv = root, env, live.json, profile flag.
CHILD = r"""
import json, resource, sys, time
started_imports = time.perf_counter()
from planner.app.environments import collector_paused, load_environment
from planner.core.planning import build_plan
imports = time.perf_counter() - started_imports
root, env, live_file, profile = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
with open(live_file, encoding="utf-8") as handle:
    live = json.load(handle)
def work():
    environment = load_environment(__import__("pathlib").Path(root), env)
    loaded = time.perf_counter()
    with collector_paused():  # as the plan and apply commands call it
        plan = build_plan(environment, live, None, created_at="2026-01-01T00:00:00Z", tool_version="bench")
    return environment, plan, loaded
top = []
if profile:
    import cProfile, io, pstats
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    environment, plan, loaded = work()
    profiler.disable()
    ended = time.perf_counter()
    stats = pstats.Stats(profiler)
    for (file, line, function), (calls, _, own, cumulative, _) in sorted(stats.stats.items(), key=lambda item: -item[1][2])[:25]:
        top.append({"function": "/".join(file.rsplit("/", 2)[-2:]) + f":{line}({function})", "calls": calls, "own_seconds": round(own, 3), "cumulative_seconds": round(cumulative, 3)})
else:
    started = time.perf_counter()
    environment, plan, loaded = work()
    ended = time.perf_counter()
actions = {}
for change in plan.changes:
    actions[change.action] = actions.get(change.action, 0) + 1
print(json.dumps({
    "imports_seconds": round(imports, 3),
    "load_validate_seconds": round(loaded - started, 3),
    "build_plan_seconds": round(ended - loaded, 3),
    "cpu_seconds": round(ended - started, 3),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    "models": len(environment.models),
    "actions": actions,
    "profile_top_own_time": top,
}))
"""


def write_inputs(directory: Path, models: int) -> tuple[ApplyProject, Path]:
    project = ApplyProject(directory / "project", "http://127.0.0.1:9", env="noop")  # never contacted
    project.add_generated(models)
    live = {}
    for index in range(1, models + 1):
        model_id = generated_model_id(index)
        live[model_id] = {**expected_payload(model_id), "version": 1, "modifiedDate": "2026-01-01T00:00:00.000Z", "selfUri": f"/api/v2/ai/models/{model_id}/configuration"}
    live_file = directory / "live.json"
    live_file.write_text(json.dumps(live), encoding="utf-8")
    return project, live_file


def measure(project: ApplyProject, live_file: Path, *, profile: bool) -> dict:
    done = timed([sys.executable, "-c", CHILD, str(project.root), project.env, str(live_file), "1" if profile else "0"], timeout=600)
    if done.code != 0:
        raise SystemExit(f"the measuring child failed:\n{done.stderr}")
    return json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3, help="measured runs; the best is reported (default 3)")
    parser.add_argument("--profile", action="store_true", help="also run once under cProfile and print the top functions")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmplan-bench-") as directory:
        project, live_file = write_inputs(Path(directory), options.models)
        runs = [measure(project, live_file, profile=False) for _ in range(options.runs)]
        profile = measure(project, live_file, profile=True) if options.profile else None
    best = min(runs, key=lambda run: run["cpu_seconds"])
    results = {"models": options.models, "runs": runs, "best": best, "child": "python -c (fresh interpreter per run)", "root": str(ROOT)}
    print(
        f"no-op plan of {options.models} models: load+validate {best['load_validate_seconds']:.2f} s, build_plan {best['build_plan_seconds']:.2f} s, "
        f"total {best['cpu_seconds']:.2f} s (best of {len(runs)}: {', '.join(format(run['cpu_seconds'], '.2f') for run in runs)}); "
        f"imports {best['imports_seconds']:.2f} s; peak RSS {best['peak_rss_mb']:.0f} MB; actions {best['actions']}",
        flush=True,
    )
    if profile is not None:
        results["profile"] = profile
        print(f"cProfile (total {profile['cpu_seconds']:.2f} s under the profiler), top functions by own time:")
        for row in profile["profile_top_own_time"][:15]:
            print(f"  {row['own_seconds']:7.3f} s own  {row['cumulative_seconds']:7.3f} s cum  {row['calls']:>8} calls  {row['function']}")
    ok = best["cpu_seconds"] < GOAL_SECONDS and best["peak_rss_mb"] < GOAL_MB and best["actions"] == {"no-op": options.models}
    figure = f"{best['cpu_seconds']:.2f} s, {best['peak_rss_mb']:.0f} MB peak RSS for {options.models} models"
    return finish(NAME, figure, f"< {GOAL_SECONDS:g} s and < {GOAL_MB:g} MB", ok, results)


if __name__ == "__main__":
    raise SystemExit(main())

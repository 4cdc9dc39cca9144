"""`llmplan plan --all` of 10 environments against a sandbox at 300 ms latency, against the plan of one.

Run from the repository root (about 20 s):

    .venv/bin/python -m benchmarks.plan_10_envs [--runs 3]

One sandbox (its own process, rate limit out of the way, every request
delayed by ``--latency-ms``) serves 10 environments of 5 models each, every
model configured as its YAML says, so each plan is 5 no-ops. Two timings,
each a fresh ``llmplan`` process, median of ``--runs``:

- ``llmplan plan --env env-00``: one environment;
- ``llmplan plan --all``: the 10 environments in one command, one report.

Planned one after the other, 10 environments would take about 10 times one
(every plan waits for its own round trips: a token, the model list, the
configurations); planned side by side they wait together. Goal: all 10 in at
most 2 x the time of one.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._common import CREDENTIALS, ApplyProject, cli_environ, configure_live, finish, llmplan_command, median, model_yaml, sandbox_process, timed  # noqa: E402
from planner.model.catalog import generated_model_id  # noqa: E402

NAME = "plan_10_envs"
MODELS_PER_ENVIRONMENT = 5
GOAL_RATIO = 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--environments", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=300.0)
    parser.add_argument("--output", type=Path, default=None, help="the results file (default benchmarks/results/plan_10_envs.json)")
    options = parser.parse_args()
    environments = [f"env-{index:02d}" for index in range(options.environments)]
    total = options.environments * MODELS_PER_ENVIRONMENT
    environ = cli_environ(CREDENTIALS)
    with tempfile.TemporaryDirectory(prefix="llmplan-bench-") as directory, sandbox_process(
        "--no-catalog", "--models", str(total), "--latency-ms", f"{options.latency_ms:g}", "--rate-limit", "100000000"
    ) as sandbox:
        configure_live(sandbox.url, total)  # every model as its YAML says: each plan is all no-ops
        root = Path(directory) / "project"
        for number, name in enumerate(environments):
            project = ApplyProject(root, sandbox.url, env=name)
            project.write_environment(parallelism=10, max_change_percent=100)
            for index in range(number * MODELS_PER_ENVIRONMENT + 1, (number + 1) * MODELS_PER_ENVIRONMENT + 1):
                project.write_model(f"model-{index:03d}", model_yaml(generated_model_id(index)))

        one_runs, all_runs = [], []
        for _ in range(options.runs):
            one = timed([*llmplan_command(), "plan", "--env", environments[0], "--root", str(root)], environ=environ, timeout=300)
            if one.code != 0 or not one.stdout.startswith("No changes."):
                raise SystemExit(f"llmplan plan --env {environments[0]} did not plan no changes (exit {one.code}):\n{one.stdout[-1500:]}\n{one.stderr[-1500:]}")
            one_runs.append(one.seconds)
            sandbox.admin.clear_requests()
            every = timed([*llmplan_command(), "plan", "--all", "--root", str(root)], environ=environ, timeout=600)
            expected = f"Plans of {options.environments} environments: 0 with changes, {options.environments} without."
            if every.code != 0 or not every.stdout.startswith(expected):
                raise SystemExit(f"llmplan plan --all did not plan {options.environments} environments without changes (exit {every.code}):\n{every.stdout[-1500:]}\n{every.stderr[-1500:]}")
            all_runs.append(every.seconds)
            requests_sent = len(sandbox.admin.requests())

    one_seconds = median(one_runs)
    all_seconds = median(all_runs)
    ratio = all_seconds / one_seconds
    results: dict[str, Any] = {
        "environments": options.environments,
        "models_per_environment": MODELS_PER_ENVIRONMENT,
        "latency_ms": options.latency_ms,
        "one_environment_seconds": round(one_seconds, 3),
        "one_environment_runs_seconds": [round(value, 3) for value in one_runs],
        "all_environments_seconds": round(all_seconds, 3),
        "all_environments_runs_seconds": [round(value, 3) for value in all_runs],
        "ratio": round(ratio, 3),
        "sequential_estimate_seconds": round(one_seconds * options.environments, 3),
        "requests_per_environment": round(requests_sent / options.environments, 1),
    }
    print(
        f"plan of 1 environment at {options.latency_ms:g} ms: {one_seconds:.2f} s; plan --all of {options.environments}: {all_seconds:.2f} s "
        f"(median of {options.runs}), {ratio:.2f} x one (goal <= {GOAL_RATIO:g} x; one after the other: ~{one_seconds * options.environments:.1f} s)",
        flush=True,
    )
    figure = f"{all_seconds:.2f} s for {options.environments} environments = {ratio:.2f} x one ({one_seconds:.2f} s)"
    return finish(NAME, figure, f"<= {GOAL_RATIO:g} x one environment", ratio <= GOAL_RATIO, results, output=options.output)


if __name__ == "__main__":
    raise SystemExit(main())

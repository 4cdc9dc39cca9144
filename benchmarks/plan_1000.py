"""`llmplan plan` of 1,000 models against a sandbox at 20 ms latency: elapsed
against the floor plus the paged fetch, and against per-model GETs.

Run from the repository root (about 20 s):

    .venv/bin/python -m benchmarks.plan_1000 [--runs 5]

The sandbox (its own process, rate limit out of the way) holds 1,000
configured models; the YAML changes 100 of them, so the plan shows 100
updates and 900 no-ops.  ``llmplan plan --env bench`` runs ``--runs`` times,
each a fresh process (the median is the figure).

Bound, as for ``plan_10k``: the CSafeLoader floor of the same files (the
measured start-up of ``llmplan plan --help`` + ``yaml.load`` of every file
with libyaml, each measured beside one of llmplan's runs) + the paged
fetch's round trips at 20 ms (the token, the first page, then the other 9 pages side by side:
3).  It no longer comes from a run of llmplan itself, so slower CPU code
shows as a higher ratio.  The per-model way: sequential GETs (``GET
…/models/{id}`` and ``…/configuration`` one at a time on a keep-alive
session) of a sample of 100 models (200 GETs), extrapolated to 1,000 models
(2,000 GETs), plus the same floor.  Goals: plan ≤ 1.2 × the bound, and ≥ 20 ×
faster than the per-model way.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from benchmarks._common import CREDENTIALS, ApplyProject, address, cli_environ, configure_live, finish, llmplan_command, median, model_yaml, ratio_line, sandbox_process, timed, yaml_floor, yaml_load_seconds  # noqa: E402
from benchmarks.plan_10k import fetch_round_trips  # noqa: E402
from planner.model.catalog import generated_model_id  # noqa: E402

NAME = "plan_1000"
MODELS = 1000
CHANGED = 100
LATENCY_MS = 20.0
SAMPLE_MODELS = 100
GOAL_RATIO = 1.2
GOAL_SPEEDUP = 20.0


def sequential_gets(url: str, models: int) -> float:
    """Seconds for 2 GETs per model, one at a time, on one keep-alive session."""
    session = requests.Session()
    session.trust_env = False
    token = session.post(f"{url}/oauth/token", data={"grant_type": "client_credentials"}, auth=("sandbox", "sandbox-secret"), timeout=15).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    started = time.perf_counter()
    for index in range(1, models + 1):
        model_id = generated_model_id(index)
        session.get(f"{url}/api/v2/ai/models/{model_id}", timeout=15).raise_for_status()
        session.get(f"{url}/api/v2/ai/models/{model_id}/configuration", timeout=15).raise_for_status()
    elapsed = time.perf_counter() - started
    session.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--models", type=int, default=MODELS)
    parser.add_argument("--sample", type=int, default=SAMPLE_MODELS, help="models read by the sequential GETs, extrapolated to all (default 100)")
    parser.add_argument("--output", type=Path, help="where the results go (default benchmarks/results/plan_1000.json)")
    options = parser.parse_args()
    models, changed = options.models, min(CHANGED, options.models)
    environ = cli_environ(CREDENTIALS)
    with tempfile.TemporaryDirectory(prefix="llmplan-bench-") as directory, sandbox_process(
        "--no-catalog", "--latency-ms", f"{LATENCY_MS:g}", "--rate-limit", "100000000"
    ) as sandbox:
        configure_live(sandbox.url, models)  # every model as the YAML says, before the YAML changes 100 of them
        project = ApplyProject(Path(directory) / "project", sandbox.url, env="bench")
        project.write_environment(parallelism=10, max_change_percent=100)
        project.add_generated(models)
        for index in range(1, changed + 1):
            project.write_model(address(index), model_yaml(generated_model_id(index), max_tokens=2048))
        arguments = ["plan", "--env", "bench", "--root", str(project.root), "--detailed-exitcode"]

        plans, loads = [], []
        for _ in range(options.runs):
            loads.append(yaml_load_seconds(project.env_dir))
            sandbox.admin.clear_requests()
            done = timed([*llmplan_command(), *arguments], environ=environ, timeout=300)
            if done.code != 2 or f"Plan: 0 to create, {changed} to update" not in done.stdout:
                raise SystemExit(f"llmplan plan did not show {changed} updates (exit {done.code}):\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}")
            log = sandbox.admin.requests()
            plans.append(done.seconds)
            pages = sum(1 for entry in log if entry["path"] == "/api/v2/ai/models")
            tokens = sum(1 for entry in log if entry["path"] == "/oauth/token")
            requests_sent = len(log)
        floor = yaml_floor(project.env_dir, "plan", loads=loads)
        sample_models = min(options.sample, models)
        sample = sequential_gets(sandbox.url, sample_models)

    plan_seconds = median(plans)
    round_trips = fetch_round_trips(models)
    bound = floor.seconds + round_trips * LATENCY_MS / 1000
    per_model = floor.seconds + sample * models / sample_models
    ratio = plan_seconds / bound
    speedup = per_model / plan_seconds
    results: dict[str, Any] = {
        "models": models,
        "changed": changed,
        "latency_ms": LATENCY_MS,
        "plan_seconds": round(plan_seconds, 3),
        "plan_runs_seconds": [round(value, 3) for value in plans],
        "floor": floor.to_dict(),
        "fetch_round_trips": round_trips,
        "requests_per_plan": {"total": requests_sent, "list_pages": pages, "tokens": tokens},
        "bound_seconds": round(bound, 3),
        "ratio": round(ratio, 3),
        "sequential_sample": {"models": sample_models, "gets": 2 * sample_models, "seconds": round(sample, 3)},
        "per_model_sequential_estimate_seconds": round(per_model, 3),
        "speedup": round(speedup, 1),
    }
    print(
        f"plan of {models} models ({changed} updates) at {LATENCY_MS:g} ms: {plan_seconds:.2f} s (median of {options.runs}), {requests_sent} requests "
        f"({pages} pages, {tokens} token); bound {bound:.2f} s = floor {floor.seconds:.2f} s (start-up {floor.startup_seconds:.2f} + CSafeLoader load "
        f"{floor.load_seconds:.2f}) + {round_trips} round trips x {LATENCY_MS / 1000:g} s, ratio {ratio:.2f} (goal <= {GOAL_RATIO}); per-model sequential GETs: "
        f"{2 * sample_models} took {sample:.2f} s, so {2 * models} take ~{sample * models / sample_models:.1f} s (extrapolated), {speedup:.1f} x slower (goal >= {GOAL_SPEEDUP:g} x)",
        flush=True,
    )
    ok = ratio <= GOAL_RATIO and speedup >= GOAL_SPEEDUP
    figure = f"{ratio_line(plan_seconds, bound, f'floor + {round_trips} round trips at {LATENCY_MS:g} ms')}, {speedup:.1f} x faster than per-model sequential GETs"
    return finish(NAME, figure, f"<= {GOAL_RATIO} x the bound, >= {GOAL_SPEEDUP:g} x", ok, results, output=options.output)


if __name__ == "__main__":
    raise SystemExit(main())

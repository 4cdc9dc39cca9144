"""`llmplan plan` of 1,000 models against a sandbox at 20 ms latency: elapsed
against start-up + CPU + the paged-fetch bound, and against per-model GETs.

Run from the repository root (about 20 s):

    .venv/bin/python -m benchmarks.plan_1000 [--runs 3]

The sandbox (its own process, rate limit out of the way) holds 1,000
configured models; the YAML changes 100 of them, so the plan shows 100
updates and 900 no-ops.  Three timings, each a fresh ``llmplan`` process:

- the real ``llmplan plan --env bench`` (median of ``--runs``);
- the same command with the gateway replaced by the live snapshot read from
  a file (``planner.adapters.gateway.live.fetch_live`` and ``planner.app.connections.gateway_client``
  patched in the child): start-up, load, validation, diff and rendering,
  without a request (median of ``--runs``);
- per-model sequential GETs (``GET …/models/{id}`` and ``…/configuration``
  one at a time on a keep-alive session): a sample of 100 models (200 GETs),
  extrapolated to 1,000 models (2,000 GETs).

Bound = no-gateway run + (pages + token) x RTT, with 10 pages of 100 models
and one token request: 11 x 20 ms.  Goals: plan <= 1.2 x the bound, and
>= 20 x faster than the per-model sequential way (no-gateway run + 2,000
GETs).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from benchmarks._common import CREDENTIALS, ApplyProject, address, cli_environ, configure_live, finish, llmplan_command, median, model_yaml, sandbox_process, timed  # noqa: E402
from planner.model.catalog import generated_model_id  # noqa: E402

NAME = "plan_1000"
MODELS = 1000
CHANGED = 100
LATENCY_MS = 20.0
PAGE_SIZE = 100
SAMPLE_MODELS = 100
GOAL_RATIO = 1.2
GOAL_SPEEDUP = 20.0

# The plan command with the network replaced by a snapshot file: argv = snapshot, then the CLI's arguments.
OFFLINE_CHILD = r"""
import contextlib, json, sys
import planner.adapters.gateway.client  # what the real command imports to talk to the gateway
from planner.adapters.gateway import live
from planner.app import connections
from planner.app import plan as plan_command
from planner.cli import main
from planner.model.configuration import Capabilities
with open(sys.argv[1], encoding="utf-8") as handle:
    data = json.load(handle)
snapshot = live.LiveSnapshot(
    configurations=data["configurations"],
    capabilities={key: Capabilities.from_api(value) for key, value in data["capabilities"].items()},
    names=data["names"],
    method="list",
)
@contextlib.contextmanager
def no_gateway(environment, *, parallelism, environ=None, timeout=None):
    yield None
plan_command.gateway_client = no_gateway
connections.fetch_live = lambda client, model_ids, *, parallelism: snapshot
main(sys.argv[2:])
"""


def snapshot_file(url: str, path: Path) -> Path:
    """What the paged fetch returns, saved for the no-gateway run."""
    from planner.adapters.gateway.client import GatewayClient
    from planner.adapters.gateway.endpoints import Credentials, Endpoint
    from planner.adapters.gateway.live import fetch_all

    with GatewayClient(Endpoint(url, url), Credentials(CREDENTIALS["GENESYSCLOUD_OAUTHCLIENT_ID"], CREDENTIALS["GENESYSCLOUD_OAUTHCLIENT_SECRET"])) as client:
        snapshot = fetch_all(client)
    path.write_text(
        json.dumps(
            {
                "configurations": dict(snapshot.configurations),
                "capabilities": {key: value.to_api() for key, value in snapshot.capabilities.items()},
                "names": dict(snapshot.names),
            }
        ),
        encoding="utf-8",
    )
    return path


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
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    environ = cli_environ(CREDENTIALS)
    with tempfile.TemporaryDirectory(prefix="llmplan-bench-") as directory, sandbox_process(
        "--no-catalog", "--models", str(MODELS), "--latency-ms", f"{LATENCY_MS:g}", "--rate-limit", "100000000"
    ) as sandbox:
        configure_live(sandbox.url, MODELS)  # every model as the YAML says, before the YAML changes 100 of them
        project = ApplyProject(Path(directory) / "project", sandbox.url, env="bench")
        project.write_environment(parallelism=10, max_change_percent=100)
        project.add_generated(MODELS)
        for index in range(1, CHANGED + 1):
            project.write_model(address(index), model_yaml(generated_model_id(index), max_tokens=2048))
        snapshot = snapshot_file(sandbox.url, Path(directory) / "snapshot.json")
        arguments = ["plan", "--env", "bench", "--root", str(project.root), "--detailed-exitcode"]

        plans, offline = [], []
        for _ in range(options.runs):
            sandbox.admin.clear_requests()
            done = timed([*llmplan_command(), *arguments], environ=environ, timeout=300)
            if done.code != 2 or f"Plan: 0 to create, {CHANGED} to update" not in done.stdout:
                raise SystemExit(f"llmplan plan did not show {CHANGED} updates (exit {done.code}):\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}")
            log = sandbox.admin.requests()
            plans.append(done.seconds)
            pages = sum(1 for entry in log if entry["path"] == "/api/v2/ai/models")
            tokens = sum(1 for entry in log if entry["path"] == "/oauth/token")
            requests_sent = len(log)
            baseline = timed([sys.executable, "-c", OFFLINE_CHILD, str(snapshot), *arguments], environ=environ, timeout=300)
            if baseline.code != 2 or baseline.stdout != done.stdout:
                raise SystemExit(f"the no-gateway run did not print the same plan (exit {baseline.code}):\n{baseline.stderr[-1500:]}")
            offline.append(baseline.seconds)
        sample = sequential_gets(sandbox.url, SAMPLE_MODELS)

    plan_seconds = median(plans)
    offline_seconds = median(offline)
    expected_pages = math.ceil(MODELS / PAGE_SIZE)
    bound = offline_seconds + (expected_pages + 1) * LATENCY_MS / 1000
    per_model = offline_seconds + sample * MODELS / SAMPLE_MODELS
    ratio = plan_seconds / bound
    speedup = per_model / plan_seconds
    results: dict[str, Any] = {
        "models": MODELS,
        "changed": CHANGED,
        "latency_ms": LATENCY_MS,
        "plan_seconds": round(plan_seconds, 3),
        "plan_runs_seconds": [round(value, 3) for value in plans],
        "no_gateway_seconds": round(offline_seconds, 3),
        "no_gateway_runs_seconds": [round(value, 3) for value in offline],
        "requests_per_plan": {"total": requests_sent, "list_pages": pages, "tokens": tokens},
        "bound_seconds": round(bound, 3),
        "ratio": round(ratio, 3),
        "sequential_sample": {"models": SAMPLE_MODELS, "gets": 2 * SAMPLE_MODELS, "seconds": round(sample, 3)},
        "per_model_sequential_estimate_seconds": round(per_model, 3),
        "speedup": round(speedup, 1),
    }
    print(
        f"plan of {MODELS} models ({CHANGED} updates) at {LATENCY_MS:g} ms: {plan_seconds:.2f} s (median of {options.runs}), {requests_sent} requests "
        f"({pages} pages, {tokens} token); no-gateway run {offline_seconds:.2f} s; bound {offline_seconds:.2f} + {expected_pages + 1} x {LATENCY_MS / 1000:g} = {bound:.2f} s, "
        f"ratio {ratio:.3f} (goal <= {GOAL_RATIO}); per-model sequential GETs: {2 * SAMPLE_MODELS} took {sample:.2f} s, "
        f"so {2 * MODELS} take ~{sample * MODELS / SAMPLE_MODELS:.1f} s (extrapolated), {speedup:.1f} x slower (goal >= {GOAL_SPEEDUP:g} x)",
        flush=True,
    )
    ok = ratio <= GOAL_RATIO and speedup >= GOAL_SPEEDUP
    figure = f"{plan_seconds:.2f} s = {ratio:.3f} x bound ({bound:.2f} s), {speedup:.1f} x faster than per-model sequential GETs"
    return finish(NAME, figure, f"<= {GOAL_RATIO} x bound, >= {GOAL_SPEEDUP:g} x", ok, results)


if __name__ == "__main__":
    raise SystemExit(main())

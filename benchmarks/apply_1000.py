"""`llmplan apply` of 1,000 changed models, latency-bound and rate-bound, against
max(N x RTT / P, N / rate) plus the measured start-up; a sequential client in
the reference's style for comparison.

Run from the repository root (about 2.5 minutes):

    .venv/bin/python -m benchmarks.apply_1000 [--models N] [--skip-budget] [--skip-reference]

Two cases, each a sandbox of its own (its own process) answering every
request after 50 ms, its 1,000 models configured (max_tokens 1024) while
the project's 1,000 model files say 2048, so the plan is 1,000 updates,
each with its field diff and the live version its PUT must match.  The real
CLI, ``llmplan apply --env bench --auto-approve``, runs as a child process,
parallelism 10, with the local-files records (fsync on):

- latency-bound: no rate limit that matters (10^8 requests per 60 s):
  bound = start-up + N x RTT / P = 5 s + start-up.  For scale, the same
  PUTs by a bare client (a ``requests`` session per thread, nothing
  recorded) against a sandbox of their own: what the sandbox itself (a
  Python server on the same cores) adds to every round trip;
- rate-bound: 100 requests per 1 s window: bound = start-up + max(N / rate,
  N x RTT / P) = 10 s + start-up.

The start-up is measured: the median of ``llmplan apply --help`` (a process
started, the command's modules imported).  Everything else counts against
the bound: reading 1,000 files, the live fetch (which also spends rate
budget), the plan, the durable records of every change, the commit.
Goals: elapsed ≤ 1.10 x the bound in both cases, ≤ 1 % of requests
answered 429, state and audit hold all 1,000 (``state show``, ``audit
verify``).  The breakdown comes from the sandbox's request log: start-up
and load until the first request, fetch, plan until the first PUT, the PUT
phase, and recording after the last answer.

The reference client: one PUT at a time on a keep-alive ``requests``
session; on a 429 it waits 1 s x 2^n and tries again, but like the
documented axios interceptor it retries a 429 only once although it claims
three, and then gives the update up; a 503 waits a fixed 10 s.  It runs
against a third sandbox with the rate-bound settings and fresh models.
Goal: llmplan (rate-bound) >= 4 x faster.

Budget scenario: the contract's realistic 300 requests per 60 s, 100 models,
in a window that other traffic of the same OAuth client (a drift cron,
another pipeline) has already used for 250 requests.  llmplan sends what the
window has left, waits for the reset and finishes; the reference client
loses every update it meets a 429 for.  Both run side by side on their own
sandboxes, so the scenario costs one window (about a minute).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import requests

from benchmarks._common import CREDENTIALS, ApplyProject, SandboxProcess, cli_environ, configure_live, finish, llmplan_command, llmplan_startup, parse_time, ratio_line, sandbox_process, timed  # noqa: E402
from planner.model.catalog import generated_model_id  # noqa: E402
from tests.apply.project import expected_payload  # noqa: E402

NAME = "apply_1000"
MODELS = 1000
LATENCY_MS = 50.0
RATE = 100
WINDOW_SECONDS = 1.0
UNLIMITED_RATE = 100_000_000  # per 60 s: a limit no apply meets (the sandbox always has one)
UNLIMITED_WINDOW_SECONDS = 60.0
PARALLELISM = 10
GOAL_RATIO = 1.10
GOAL_429_SHARE = 0.01
GOAL_SPEEDUP = 4.0

BUDGET_MODELS = 100
BUDGET_RATE = 300
BUDGET_WINDOW_SECONDS = 60.0
BUDGET_USED_BY_OTHERS = 250

CONFIG_PATH = "/api/v2/ai/models/{}/configuration"


def sandbox_options(models: int, rate: int, window: float) -> list[str]:
    return ["--no-catalog", "--models", str(models), "--latency-ms", f"{LATENCY_MS:g}", "--rate-limit", str(rate), "--rate-window", f"{window:g}"]


def token(url: str) -> str:
    answer = requests.post(f"{url}/oauth/token", data={"grant_type": "client_credentials"}, auth=("sandbox", "sandbox-secret"), timeout=15)
    answer.raise_for_status()
    return str(answer.json()["access_token"])


# --- llmplan, as a user runs it ----------------------------------------------------------


def make_project(directory: Path, url: str, models: int, **fields: Any) -> ApplyProject:
    project = ApplyProject(directory, url, env="bench")
    project.write_environment(parallelism=PARALLELISM, max_change_percent=100)
    project.add_generated(models, **fields)
    return project


def run_llmplan(project: ApplyProject, sandbox: SandboxProcess, *, timeout: float) -> dict[str, Any]:
    """``llmplan apply --env bench --auto-approve`` in a child process; what the log and the records say."""
    done = timed([*llmplan_command(), "apply", "--env", "bench", "--auto-approve", "--root", str(project.root)], environ=cli_environ(CREDENTIALS), timeout=timeout)
    log = sandbox.admin.requests()
    api = [entry for entry in log if entry["path"].startswith("/api/v2/")]
    puts = [entry for entry in api if entry["method"] == "PUT"]
    lists = [entry for entry in api if entry["method"] == "GET" and entry["path"] == "/api/v2/ai/models"]
    tokens = [entry for entry in log if entry["path"] == "/oauth/token"]
    statuses = Counter(entry["status"] for entry in api)
    latency = LATENCY_MS / 1000
    first_request = min(parse_time(entry["time"]) for entry in log) if log else done.ended
    breakdown: dict[str, float] = {}
    if puts and lists:
        first_put = min(parse_time(entry["time"]) for entry in puts)
        last_put_answer = max(parse_time(entry["time"]) for entry in puts) + latency
        last_list_answer = max(parse_time(entry["time"]) for entry in lists) + latency
        breakdown = {
            "startup_and_yaml_load": first_request - done.started,
            "live_fetch": last_list_answer - first_request,
            "plan_and_first_records": first_put - last_list_answer,
            "put_phase": last_put_answer - first_put,
            "recording_after_last_answer": done.ended - last_put_answer,
        }
        breakdown = {key: round(value, 3) for key, value in breakdown.items()}
    shown = project.run("state", "show", "--env", "bench", "--format", "json")
    resources = (json.loads(shown.stdout)["state"] or {}).get("resources", {}) if shown.code == 0 else {}
    verify = project.run("audit", "verify", "--env", "bench")
    successes = sum(1 for entry in project.audit() if entry.get("action") == "configuration_update" and entry.get("status") == "success")
    return {
        "exit_code": done.code,
        "elapsed_seconds": round(done.seconds, 3),
        "breakdown_seconds": breakdown,
        "requests": {"api": len(api), "puts": len(puts), "list_pages": len(lists), "tokens": len(tokens)},
        "statuses": {str(key): value for key, value in sorted(statuses.items(), key=lambda item: str(item[0]))},
        "share_429": round(statuses.get(429, 0) / max(len(api), 1), 4),
        "state_resources": len(resources),
        "audit_success_entries": successes,
        "audit_verifies": verify.code == 0,
        "stderr_tail": done.stderr[-2000:] if done.code != 0 else "",
        "started": done.started,
    }


# --- the reference's way -----------------------------------------------------------------


@dataclass
class ReferenceRun:
    applied: int = 0
    lost: list[str] = field(default_factory=list)
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    elapsed_seconds: float = 0.0


def reference_client(url: str, jobs: Sequence[tuple[str, Mapping[str, Any]]], *, retries_429: int = 1, deadline: float = 600.0) -> ReferenceRun:
    """One PUT at a time, as the documented reference client does it.

    On 429: wait 1 s x 2^n and retry; the reference claims three retries but
    its interceptor retries once (``retries_429=1``), then the update is
    lost.  On 503: wait a fixed 10 s and retry, without limit (bounded here
    by ``deadline``).  Anything else that is not a 200 loses the update.
    """
    run = ReferenceRun()
    session = requests.Session()
    session.trust_env = False
    headers = {"Authorization": f"Bearer {token(url)}"}
    started = time.monotonic()
    for model_id, body in jobs:
        attempt = 0
        while True:
            answer = session.put(url + CONFIG_PATH.format(model_id), json=dict(body), headers=headers, timeout=15)
            run.requests += 1
            run.statuses[answer.status_code] += 1
            if answer.status_code == 200:
                run.applied += 1
                break
            if answer.status_code == 429 and attempt < retries_429:
                time.sleep(1.0 * 2**attempt)
                attempt += 1
                continue
            if answer.status_code == 503 and time.monotonic() - started < deadline:
                time.sleep(10.0)
                continue
            run.lost.append(model_id)
            break
    run.elapsed_seconds = time.monotonic() - started
    session.close()
    return run


def reference_jobs(count: int) -> list[tuple[str, dict[str, Any]]]:
    """The same change llmplan makes, for the reference client's fresh models."""
    return [(generated_model_id(index), expected_payload(generated_model_id(index))) for index in range(1, count + 1)]


def use_up_budget(url: str, requests_used: int) -> float:
    """Spend ``requests_used`` of the window with the same OAuth client, as other traffic would; when the window opened."""
    bearer = {"Authorization": f"Bearer {token(url)}"}
    local = threading.local()

    def get(index: int) -> float:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.trust_env = False
        sent = time.time()
        local.session.get(f"{url}/api/v2/ai/models/{generated_model_id(index % BUDGET_MODELS + 1)}", headers=bearer, timeout=15).raise_for_status()
        return sent

    with ThreadPoolExecutor(25) as pool:
        return min(pool.map(get, range(requests_used)))


# --- scenarios ---------------------------------------------------------------------------


def bound_seconds(models: int, rate: float, window: float, startup: float) -> float:
    """max(N x RTT / P, N / rate) plus the start-up: the least an apply of ``models`` changes can take."""
    return startup + max(models * window / rate, models * LATENCY_MS / 1000 / PARALLELISM)


def apply_case(workdir: Path, name: str, models: int, rate: int, window: float, startup: float) -> dict[str, Any]:
    """One ``llmplan apply`` of ``models`` updates against a sandbox allowing ``rate`` requests per ``window``."""
    with sandbox_process(*sandbox_options(0, rate, window)) as sandbox:
        configure_live(sandbox.url, models)  # max_tokens 1024 live; the YAML says 2048
        project = make_project(workdir / name, sandbox.url, models, max_tokens=2048)
        llmplan = run_llmplan(project, sandbox, timeout=300)
    llmplan.pop("started")
    bound = bound_seconds(models, rate, window, startup)
    return {
        "models": models,
        "sandbox": {"latency_ms": LATENCY_MS, "rate_limit": rate, "window_seconds": window},
        "parallelism": PARALLELISM,
        "startup_seconds": round(startup, 3),
        "bound_seconds": round(bound, 3),
        "ratio": round(llmplan["elapsed_seconds"] / bound, 3),
        "llmplan": llmplan,
    }


def bare_client_seconds(models: int) -> float:
    """The same number of PUTs by a bare client (a keep-alive ``requests`` session per thread, ``PARALLELISM``
    threads, nothing recorded) against a latency-bound sandbox of its own: what the sandbox itself costs
    on this machine beyond N x RTT / P, the floor under any client's PUT phase."""
    with sandbox_process(*sandbox_options(models, UNLIMITED_RATE, UNLIMITED_WINDOW_SECONDS)) as sandbox:
        bearer = {"Authorization": f"Bearer {token(sandbox.url)}"}
        local = threading.local()

        def put(job: tuple[str, Mapping[str, Any]]) -> int:
            if not hasattr(local, "session"):
                local.session = requests.Session()
                local.session.trust_env = False
            model_id, body = job
            return int(local.session.put(sandbox.url + CONFIG_PATH.format(model_id), json=dict(body), headers=bearer, timeout=15).status_code)

        jobs = reference_jobs(models)
        started = time.monotonic()
        with ThreadPoolExecutor(PARALLELISM) as pool:
            statuses = list(pool.map(put, jobs))
        elapsed = time.monotonic() - started
    if set(statuses) != {200}:
        raise SystemExit(f"the bare client's PUTs were not all answered 200: {Counter(statuses)}")
    return elapsed


def reference_case(models: int) -> dict[str, Any]:
    """The reference client against the rate-bound sandbox, with fresh models."""
    with sandbox_process(*sandbox_options(models, RATE, WINDOW_SECONDS)) as sandbox:
        reference = reference_client(sandbox.url, reference_jobs(models))
        reference_429 = sum(1 for entry in sandbox.admin.requests() if entry["status"] == 429)
    return {**_reference_dict(reference), "answered_429": reference_429}


def budget(workdir: Path) -> dict[str, Any]:
    """300 per 60 s with 250 already used: both clients side by side, one window."""
    options = sandbox_options(BUDGET_MODELS, BUDGET_RATE, BUDGET_WINDOW_SECONDS)
    with sandbox_process(*options) as ours, sandbox_process(*options) as theirs:
        project = make_project(workdir / "budget", ours.url, BUDGET_MODELS)
        with ThreadPoolExecutor(2) as pool:
            opened = list(pool.map(lambda url: use_up_budget(url, BUDGET_USED_BY_OTHERS), (ours.url, theirs.url)))
            for sandbox in (ours, theirs):
                sandbox.admin.clear_requests()  # the log starts with the clients measured (the window keeps its count)
            reference_future = pool.submit(reference_client, theirs.url, reference_jobs(BUDGET_MODELS))
            llmplan = run_llmplan(project, ours, timeout=300)
            reference = reference_future.result()
        window_resets_after = opened[0] + BUDGET_WINDOW_SECONDS - llmplan.pop("started")
    left_in_first_window = BUDGET_RATE - BUDGET_USED_BY_OTHERS
    return {
        "models": BUDGET_MODELS,
        "sandbox": {"latency_ms": LATENCY_MS, "rate_limit": BUDGET_RATE, "window_seconds": BUDGET_WINDOW_SECONDS},
        "used_by_other_traffic": BUDGET_USED_BY_OTHERS,
        "left_in_first_window": left_in_first_window,
        # the budget's pace: what fits now goes now, the rest right after the reset
        "window_reset_after_seconds": round(window_resets_after, 3),
        "bound_seconds": round(window_resets_after + math.ceil((BUDGET_MODELS + 1 - left_in_first_window) / PARALLELISM) * LATENCY_MS / 1000, 3),
        "llmplan": llmplan,
        "reference": _reference_dict(reference),
    }


def _reference_dict(run: ReferenceRun) -> dict[str, Any]:
    data = asdict(run)
    data["statuses"] = {str(key): value for key, value in sorted(run.statuses.items())}
    data["lost"] = len(run.lost)
    data["elapsed_seconds"] = round(run.elapsed_seconds, 3)
    return data


def _case_line(name: str, case: dict[str, Any]) -> str:
    ours = case["llmplan"]
    what = f"start-up {case['startup_seconds']:.2f} s + the round trips or the rate"
    return (
        f"{name}: llmplan apply of {case['models']} models in {ratio_line(ours['elapsed_seconds'], case['bound_seconds'], what)} "
        f"(goal <= {GOAL_RATIO}); breakdown {ours['breakdown_seconds']}; 429s {ours['statuses'].get('429', 0)} of {ours['requests']['api']} = {ours['share_429'] * 100:.2f} %; "
        f"state {ours['state_resources']} resources, {ours['audit_success_entries']} audit successes, audit verifies: {ours['audit_verifies']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", type=int, default=MODELS)
    parser.add_argument("--skip-budget", action="store_true", help="leave out the one-minute 300/60 s scenario")
    parser.add_argument("--skip-reference", action="store_true", help="leave out the sequential reference client (about a minute)")
    parser.add_argument("--output", type=Path, help="where the results go (default benchmarks/results/apply_1000.json)")
    options = parser.parse_args()
    models = options.models
    startup = llmplan_startup("apply")
    results: dict[str, Any] = {"startup_seconds": round(startup, 3)}
    with tempfile.TemporaryDirectory(prefix="llmplan-bench-") as directory:
        workdir = Path(directory)
        results["latency_bound"] = apply_case(workdir, "latency", models, UNLIMITED_RATE, UNLIMITED_WINDOW_SECONDS, startup)
        print(_case_line("latency-bound (50 ms, no rate limit)", results["latency_bound"]), flush=True)
        bare = results["latency_bound"]["bare_client_put_seconds"] = round(bare_client_seconds(models), 3)
        ideal = models * LATENCY_MS / 1000 / PARALLELISM
        print(
            f"latency-bound: a bare client's {models} PUTs (nothing recorded) take {bare:.2f} s = {bare / ideal:.2f} x N x RTT / P ({ideal:g} s): "
            f"the sandbox's own cost on this machine; llmplan's PUT phase {results['latency_bound']['llmplan']['breakdown_seconds'].get('put_phase', 0):.2f} s",
            flush=True,
        )
        results["rate_bound"] = apply_case(workdir, "rate", models, RATE, WINDOW_SECONDS, startup)
        print(_case_line(f"rate-bound (50 ms, {RATE} requests/s)", results["rate_bound"]), flush=True)
        if not options.skip_reference:
            theirs = results["reference"] = reference_case(models)
            speedup = results["speedup"] = round(theirs["elapsed_seconds"] / results["rate_bound"]["llmplan"]["elapsed_seconds"], 2)
            print(
                f"reference client at {RATE} requests/s: {theirs['applied']} applied, {theirs['lost']} lost in {theirs['elapsed_seconds']:.2f} s; "
                f"llmplan is {speedup:.1f} x faster (goal >= {GOAL_SPEEDUP:g} x)",
                flush=True,
            )
        if not options.skip_budget:
            results["budget"] = budget(workdir)
            g = results["budget"]
            print(
                f"budget 300/60 s, {g['used_by_other_traffic']} used by other traffic: llmplan {g['llmplan']['state_resources']}/{BUDGET_MODELS} applied "
                f"in {g['llmplan']['elapsed_seconds']:.1f} s (window reset after {g['window_reset_after_seconds']:.1f} s, bound {g['bound_seconds']:.1f} s), "
                f"429s {g['llmplan']['statuses'].get('429', 0)}; reference client {g['reference']['applied']}/{BUDGET_MODELS} applied, "
                f"{g['reference']['lost']} lost in {g['reference']['elapsed_seconds']:.1f} s",
                flush=True,
            )
    checks: dict[str, bool] = {}
    for key in ("latency_bound", "rate_bound"):
        case, ours = results[key], results[key]["llmplan"]
        checks[f"{key}_ratio"] = case["ratio"] <= GOAL_RATIO
        checks[f"{key}_share_429"] = ours["share_429"] <= GOAL_429_SHARE
        checks[f"{key}_records"] = ours["exit_code"] == 0 and ours["state_resources"] == models and ours["audit_success_entries"] == models and ours["audit_verifies"]
    if "speedup" in results:
        checks["speedup"] = results["speedup"] >= GOAL_SPEEDUP
    if "budget" in results:
        g = results["budget"]
        checks["budget_all_applied"] = g["llmplan"]["exit_code"] == 0 and g["llmplan"]["state_resources"] == BUDGET_MODELS
    results["checks"] = checks
    latency, rate = results["latency_bound"], results["rate_bound"]
    figure = (
        f"latency-bound {latency['llmplan']['elapsed_seconds']:.2f} s = {latency['ratio']:.2f} x the bound {latency['bound_seconds']:.2f} s "
        f"(a bare client's PUTs alone: {latency['bare_client_put_seconds']:.2f} s), "
        f"rate-bound {rate['llmplan']['elapsed_seconds']:.2f} s = {rate['ratio']:.2f} x the bound {rate['bound_seconds']:.2f} s "
        f"(start-up {startup:.2f} s); 429s {rate['llmplan']['share_429'] * 100:.2f} %"
    )
    if "speedup" in results:
        figure += f"; {results['speedup']:.1f} x the reference client"
    if "budget" in results:
        g = results["budget"]
        figure += f"; at 300/60 s llmplan {g['llmplan']['state_resources']}/{BUDGET_MODELS}, reference lost {g['reference']['lost']}"
    goal = f"<= {GOAL_RATIO} x the bound in both cases, <= 1 % 429s, >= {GOAL_SPEEDUP:g} x, state+audit {models}/{models}"
    return finish(NAME, figure, goal, all(checks.values()), results, output=options.output)


if __name__ == "__main__":
    raise SystemExit(main())

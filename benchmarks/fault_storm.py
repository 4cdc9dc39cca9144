"""Fault storm: apply 1,000 models through a gateway that fails half the time.

Run from the repository root (about a minute):

    .venv/bin/python -m benchmarks.fault_storm [--models 1000] [--retry-after 1]

The sandbox (its own process) answers 30 % of API requests 503, 20 % 429
(with ``Retry-After: --retry-after`` seconds, short so the run stays short),
drops 2 % of connections without an answer, and issues tokens that expire
after 5 s.  (The fault rules fire in that order, so their shares are set to
30 %, 20/70 and 2/50 of what reaches each: 30 %, 20 % and 2 % of all API
requests, p = 52 % in total.)  ``llmplan apply --env storm --auto-approve``
(the real CLI, parallelism 10) runs until it exits 0, at most five times.

Checks: it converges (``plan --detailed-exitcode`` exits 0; how many runs it
took is reported); 0 lost updates (every model's live configuration is the
YAML's, state records every live version, and every PUT the gateway
answered 200 has exactly one success entry in the audit trail, which
verifies); no retry storm: API requests <= 1.2 x the expected count,
(PUTs + list pages) / (1 - p).  Results go to
``benchmarks/results/fault_storm.json``.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks._common import CREDENTIALS, ApplyProject, cli_environ, finish, llmplan_command, sandbox_process, storm_arguments, timed  # noqa: E402
from tests.apply.project import expected_payload  # noqa: E402

NAME = "fault_storm"
SHARE_503 = 0.30
SHARE_429 = 0.20
SHARE_DROP = 0.02
FAILURE_SHARE = SHARE_503 + SHARE_429 + SHARE_DROP
TOKEN_LIFETIME = 5
PARALLELISM = 10
MAX_RUNS = 5
GOAL_REQUEST_RATIO = 1.2
PAGE_SIZE = 100


def storm_options(models: int, retry_after: float, seed: int) -> list[str]:
    """Sandbox flags for the storm; the rules fire in order, so each share is of what the earlier ones let through."""
    after_503 = 1 - SHARE_503
    after_429 = after_503 - SHARE_429
    return [
        "--no-catalog", "--models", str(models), "--rate-limit", "100000000", "--token-lifetime", str(TOKEN_LIFETIME), "--seed", str(seed),
        "--fail", f"503:{SHARE_503:g}", "--fail", f"429:{SHARE_429 / after_503:.6f}:{retry_after:g}", "--drop-share", f"{SHARE_DROP / after_429:.6f}",
    ]


def storm(models: int, *, retry_after: float = 1.0, seed: int = 1, workdir: Path) -> dict[str, Any]:
    """Run the storm; every figure and check as plain data (``checks`` all True when it held)."""
    environ = cli_environ(CREDENTIALS)
    with sandbox_process(*storm_options(models, retry_after, seed)) as sandbox:
        admin = sandbox.admin
        project = ApplyProject(workdir / "project", sandbox.url, env="storm")
        project.write_environment(parallelism=PARALLELISM, max_change_percent=100)
        written = project.add_generated(models)
        runs = []
        began = time.monotonic()
        for _ in range(MAX_RUNS):
            done = timed([*llmplan_command(), "apply", "--env", "storm", "--auto-approve", "--root", str(project.root)], environ=environ, timeout=600)
            runs.append({"exit_code": done.code, "seconds": round(done.seconds, 2), "error": done.stderr.strip().splitlines()[-1][:300] if done.code else None})
            if done.code == 0:
                break
        elapsed = time.monotonic() - began
        log = admin.requests()  # before any checking request below
        admin.faults(rules=[])  # the storm's rules are start-up values: DELETE would restore them
        converged = runs[-1]["exit_code"] == 0 and project.run("plan", "--env", "storm", "--detailed-exitcode").code == 0
        live = admin.live()
        recorded = project.recorded_versions()
        audit_ok = project.run("audit", "verify", "--env", "storm").code == 0
        entries = project.audit()

    api = [entry for entry in log if entry["path"].startswith("/api/v2/")]
    statuses = Counter("dropped" if entry["status"] is None else str(entry["status"]) for entry in api)
    accepted = Counter(entry["path"].split("/")[-2] for entry in api if entry["method"] == "PUT" and entry["status"] == 200)
    successes = Counter(entry["model_id"] for entry in entries if entry.get("action") == "configuration_update" and entry.get("status") == "success")
    wrong_live = [address for address, model_id in written.items() if live.get(model_id) is None or {k: live[model_id][k] for k in expected_payload(model_id)} != expected_payload(model_id)]
    unrecorded = [address for address, model_id in written.items() if recorded.get(address) != (live.get(model_id) or {}).get("version")]
    pages_per_run = math.ceil(models / PAGE_SIZE)
    useful = models + len(runs) * pages_per_run
    expected = useful / (1 - FAILURE_SHARE)
    injected = statuses.get("503", 0) + statuses.get("429", 0) + statuses.get("dropped", 0)
    checks = {
        "converged": converged,
        "no_lost_updates": not wrong_live and not unrecorded and accepted == successes,
        "audit_verifies": audit_ok,
        "no_retry_storm": len(api) <= GOAL_REQUEST_RATIO * expected,
    }
    return {
        "models": models,
        "faults": {"503": SHARE_503, "429": SHARE_429, "dropped": SHARE_DROP, "retry_after_seconds": retry_after, "token_lifetime_seconds": TOKEN_LIFETIME, "seed": seed},
        "runs": runs,
        "elapsed_seconds": round(elapsed, 1),
        "api_requests": len(api),
        "statuses": dict(sorted(statuses.items())),
        "observed_failure_share": round(injected / max(len(api), 1), 3),
        "token_requests": sum(1 for entry in log if entry["path"] == "/oauth/token"),
        "useful_requests": useful,
        "expected_requests": round(expected, 1),
        "request_ratio": round(len(api) / expected, 3),
        "accepted_puts": sum(accepted.values()),
        "audit_successes": sum(successes.values()),
        "lost_updates": len(wrong_live),
        "models_not_recorded": len(unrecorded),
        "puts_without_one_success_entry": sorted((accepted - successes) + (successes - accepted)),
        "checks": checks,
    }


def main() -> int:
    options = storm_arguments(__doc__)
    with tempfile.TemporaryDirectory(prefix="llmplan-storm-") as directory:
        result = storm(options.models, retry_after=options.retry_after, seed=options.seed, workdir=Path(directory))
    print(
        f"fault storm: {options.models} models, {len(result['runs'])} run(s) ({', '.join('exit %s in %s s' % (run['exit_code'], run['seconds']) for run in result['runs'])}); "
        f"{result['api_requests']} API requests {result['statuses']} (failure share {result['observed_failure_share'] * 100:.1f} %), "
        f"expected {result['expected_requests']:.0f} = {result['useful_requests']} / (1 - {FAILURE_SHARE:g}), ratio {result['request_ratio']:.3f} (goal <= {GOAL_REQUEST_RATIO}); "
        f"{result['token_requests']} token requests; lost updates {result['lost_updates']}, unrecorded {result['models_not_recorded']}; checks {result['checks']}",
        flush=True,
    )
    if any(run["error"] for run in result["runs"]):
        for run in result["runs"]:
            if run["error"]:
                print(f"  a run that did not finish said: {run['error']}")
    ok = all(result["checks"].values())
    figure = (
        f"converged in {len(result['runs'])} run(s), {result['lost_updates']} lost updates, "
        f"{result['api_requests']} requests = {result['request_ratio']:.2f} x expected"
    )
    return finish(NAME, figure, f"converges, 0 lost, <= {GOAL_REQUEST_RATIO} x N/(1-p)", ok, result)


if __name__ == "__main__":
    raise SystemExit(main())

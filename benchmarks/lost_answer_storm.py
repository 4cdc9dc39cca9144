"""Lost-answer storm: apply 1,000 models through a gateway that applies some PUTs and never answers them.

Run from the repository root (about a minute):

    .venv/bin/python -m benchmarks.lost_answer_storm [--models 1000] [--retry-after 1]

The sandbox (its own process) holds ``--models`` generated models, the
first half configured (the apply updates them), the second half never
configured (the apply sends their first configuration, guarded by
``version: 0``).  Its fault rules, tried in order: 10 % of API requests
answered 503, 5 % answered 429 (``Retry-After: --retry-after``), and 5 % of
PUTs applied and then left without an answer (``lost_answer``: the change
landed, the client cannot know).  Shares are set as 10 %, 5/90 and 5/85 of
what reaches each rule, so they are those shares of all requests (of all
PUTs for the lost answers).  The governance webhook is the sandbox's
receiver.  ``llmplan apply --env storm --auto-approve`` (the real CLI,
parallelism 10) runs **once**.

Checks: it converges in that one run (exit 0, then ``plan
--detailed-exitcode`` exits 0 with nothing changed outside llmplan);
every change landed exactly once (the request log: one PUT answered 200
per model, never two); no ``failure`` entry at all, and exactly one
``success`` entry per model, with the live version; one governance event
per change (the receiver got one event id per model, each the id of that
model's success entry); the audit trail verifies; every model's live
configuration is the YAML's and state records its live version.
Results go to ``benchmarks/results/lost_answer_storm.json``.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks._common import CREDENTIALS, ApplyProject, cli_environ, configure_live, finish, llmplan_command, sandbox_process, storm_arguments, timed  # noqa: E402
from tests.apply.project import expected_payload  # noqa: E402

NAME = "lost_answer_storm"
SHARE_503 = 0.10
SHARE_429 = 0.05
SHARE_LOST = 0.05
PARALLELISM = 10
PAGE_SIZE = 100
UPDATED_MAX_TOKENS = 2000


def storm_rules(retry_after: float, seed: int) -> dict[str, Any]:
    """The body of POST /__sandbox/faults: each share is of what the earlier rules let through."""
    after_503 = 1 - SHARE_503
    after_429 = after_503 - SHARE_429
    return {
        "seed": seed,
        "rules": [
            {"effect": "status", "status": 503, "share": SHARE_503},
            {"effect": "status", "status": 429, "share": round(SHARE_429 / after_503, 6), "retry_after": retry_after},
            {"match": {"method": "PUT"}, "effect": "lost_answer", "share": round(SHARE_LOST / after_429, 6)},
        ],
    }


def storm(models: int, *, retry_after: float = 1.0, seed: int = 1, workdir: Path) -> dict[str, Any]:
    """Run the storm; every figure and check as plain data (``checks`` all True when it held)."""
    environ = cli_environ(CREDENTIALS)
    faults = workdir / "faults.json"
    workdir.mkdir(parents=True, exist_ok=True)
    faults.write_text(json.dumps(storm_rules(retry_after, seed)), encoding="utf-8")
    updates = models // 2
    with sandbox_process("--no-catalog", "--models", str(models), "--rate-limit", "100000000", "--faults", str(faults)) as sandbox:
        admin = sandbox.admin
        configure_live(sandbox.url, updates)  # through the admin API: not faulted, not logged
        project = ApplyProject(workdir / "project", sandbox.url, env="storm", webhook_url=f"{sandbox.url}/__sandbox/webhook", signed=False)
        project.write_environment(parallelism=PARALLELISM, max_change_percent=100)
        written = {**project.add_generated(updates, max_tokens=UPDATED_MAX_TOKENS), **project.add_generated(models - updates, start=updates + 1)}
        began = time.monotonic()
        done = timed([*llmplan_command(), "apply", "--env", "storm", "--auto-approve", "--root", str(project.root)], environ=environ, timeout=900)
        elapsed = time.monotonic() - began
        log = admin.requests()  # before any checking request below
        admin.faults(rules=[])  # the storm's rules are start-up values: DELETE would restore them
        deliveries = admin.deliveries()
        planned = project.run("plan", "--env", "storm", "--detailed-exitcode", "--format", "json")
        live = admin.live()
        recorded = project.recorded_versions()
        audit_ok = project.run("audit", "verify", "--env", "storm").code == 0
        entries = project.audit()

    api = [entry for entry in log if entry["path"].startswith("/api/v2/")]
    statuses = Counter("lost" if entry["answer"] == "lost" else str(entry["status"]) for entry in api)
    puts = [entry for entry in api if entry["method"] == "PUT"]
    landed = Counter(entry["path"].split("/")[-2] for entry in puts if entry["status"] == 200)
    updates_entries = [entry for entry in entries if entry.get("action") == "configuration_update"]
    successes = Counter(entry["model_id"] for entry in updates_entries if entry["status"] == "success")
    failures = [entry for entry in updates_entries if entry["status"] == "failure"]
    success_ids = {entry["audit_id"]: entry["model_id"] for entry in updates_entries if entry["status"] == "success"}
    events = [delivery["body"] for delivery in deliveries if isinstance(delivery.get("body"), dict)]
    event_models = Counter(success_ids.get(str(event.get("event_id"))) for event in events)
    wanted = {model_id: expected_payload(model_id, max_tokens=UPDATED_MAX_TOKENS if index < updates else 1024) for index, model_id in enumerate(written.values())}
    wrong_live = [address for address, model_id in written.items() if live.get(model_id) is None or {k: live[model_id][k] for k in wanted[model_id]} != wanted[model_id]]
    unrecorded = [address for address, model_id in written.items() if recorded.get(address) != (live.get(model_id) or {}).get("version")]
    plan_document = json.loads(planned.stdout) if planned.stdout.strip().startswith("{") else {}
    lost = sum(1 for entry in puts if entry["answer"] == "lost")
    read_backs = sum(1 for entry in updates_entries if entry.get("resolved") == "read_back")
    pages_per_read = math.ceil(models / PAGE_SIZE)
    checks = {
        "converged_in_one_run": done.code == 0 and planned.code == 0 and plan_document.get("resource_drift") == [],
        "every_change_landed_exactly_once": set(landed) == set(written.values()) and set(landed.values()) == {1},
        "no_failure_entries": not failures,
        "one_success_entry_per_change": successes == Counter(set(written.values())),
        "one_governance_event_per_change": len(events) == models and event_models == Counter(set(written.values())),
        "live_and_state_agree": not wrong_live and not unrecorded,
        "audit_verifies": audit_ok,
    }
    return {
        "models": models,
        "updates": updates,
        "first_configurations": models - updates,
        "faults": {"503": SHARE_503, "429": SHARE_429, "lost_answer_of_puts": SHARE_LOST, "retry_after_seconds": retry_after, "seed": seed},
        "exit_code": done.code,
        "error": done.stderr.strip().splitlines()[-1][:300] if done.code else None,
        "elapsed_seconds": round(elapsed, 1),
        "api_requests": len(api),
        "statuses": dict(sorted(statuses.items())),
        "put_requests": len(puts),
        "lost_answers": lost,
        "observed_lost_share_of_puts": round(lost / max(len(puts), 1), 3),
        "successes_read_back": read_backs,
        "useful_requests": models + 2 * pages_per_read,
        "landed_puts": sum(landed.values()),
        "models_landed_more_than_once": sorted(model for model, count in landed.items() if count > 1),
        "failure_entries": len(failures),
        "success_entries": sum(successes.values()),
        "governance_events": len(events),
        "distinct_event_ids": len({event.get("event_id") for event in events}),
        "lost_updates": len(wrong_live),
        "models_not_recorded": len(unrecorded),
        "checks": checks,
    }


def main() -> int:
    options = storm_arguments(__doc__)
    with tempfile.TemporaryDirectory(prefix="llmplan-lost-") as directory:
        result = storm(options.models, retry_after=options.retry_after, seed=options.seed, workdir=Path(directory))
    print(
        f"lost-answer storm: {options.models} models ({result['updates']} updates, {result['first_configurations']} first configurations); "
        f"one run, exit {result['exit_code']} in {result['elapsed_seconds']} s; {result['api_requests']} API requests {result['statuses']}; "
        f"{result['lost_answers']} of {result['put_requests']} PUT answers lost ({result['observed_lost_share_of_puts'] * 100:.1f} %), "
        f"{result['successes_read_back']} successes decided by reading back; {result['landed_puts']} PUTs landed, "
        f"{len(result['models_landed_more_than_once'])} models more than once; {result['failure_entries']} failure entries; "
        f"{result['governance_events']} governance events ({result['distinct_event_ids']} ids); checks {result['checks']}",
        flush=True,
    )
    if result["error"]:
        print(f"  the run said: {result['error']}")
    ok = all(result["checks"].values())
    figure = (
        f"converged in 1 run (exit {result['exit_code']}), {result['lost_answers']} answers lost, every change landed once "
        f"({result['landed_puts']} PUTs for {options.models} models), {result['failure_entries']} failure entries, "
        f"{result['governance_events']} events for {options.models} changes"
    )
    return finish(NAME, figure, "1 run, exit 0, each change landed once, 0 failures, 1 event per change", ok, result)


if __name__ == "__main__":
    raise SystemExit(main())

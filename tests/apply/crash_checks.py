"""One SIGKILL crash trial and what a user checks after it; shared by
``tests/apply/test_crash_safety.py`` (a few trials on every test run) and
``benchmarks/crash_trials.py`` (``make reliability``: 100 trials of 200 models).

A trial starts a real ``llmplan apply`` child against a sandbox that answers
every PUT a short while after applying it, waits for a random number of
progress lines (each printed once an outcome is recorded) plus a random
fraction of one request's latency, and kills it.  The seed decides every
random choice, so a failed trial can be replayed.
"""

from __future__ import annotations

import json
import random
import signal
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from tests.apply.project import ApplyProject, SandboxAdmin


@dataclass(frozen=True)
class TrialResult:
    seed: int
    models: int
    applied_before: bool
    outcomes_seen: int  # progress lines printed before the kill
    accepted_before_rerun: int  # PUTs the gateway answered 200 before the re-run
    torn_audit_line: bool  # audit verify reported a torn last line, and --repair fixed it


def check_records_converge(project: ApplyProject, admin: SandboxAdmin, models: dict[str, str], accepted_before_rerun: Counter) -> bool:
    """What a user checks after a crash: records readable, trail intact (or only torn at the end), a
    re-run converges, and records agree with the gateway.  True when a torn last line was repaired."""
    env = project.env
    # state is readable: state.json parses, or is absent with the journal holding the records
    state_path = project.state_dir / "state.json"
    if state_path.exists():
        json.loads(state_path.read_text(encoding="utf-8"))
    shown = project.run("state", "show", "--env", env, "--format", "json")
    assert shown.code == 0, str(shown)
    assert json.loads(shown.stdout)["lock"] is None, "a killed holder left the environment locked"

    # state holds every success the audit trail claims (the journal is written first), and is
    # ahead of the trail only for a PUT whose intent is still open (killed between the two writes) …
    recorded = project.recorded_versions()
    entries = project.audit()
    claimed = {e["address"]: e["version"] for e in entries if e.get("action") == "configuration_update" and e["status"] == "success"}
    settled = {e["operation_id"] for e in entries if e["status"] in ("success", "failure")}
    open_intents = {e["address"] for e in entries if e["status"] == "pending" and e["operation_id"] not in settled}
    for address, version in claimed.items():
        assert recorded.get(address) == version or (address in open_intents and recorded.get(address, 0) > version), address
    assert recorded.keys() - claimed.keys() <= open_intents
    if claimed and not state_path.exists():
        assert project.journal(), "no state.json yet: the journal must hold the records"
    # … and nothing the gateway does not have
    live = admin.live_versions(list(models.values()))
    assert all(version <= (live[models[address]] or 0) for address, version in recorded.items())

    torn = False
    verify = project.run("audit", "verify", "--env", env)
    if verify.code != 0:
        assert "torn last line" in verify.stderr, str(verify)
        repaired = project.run("audit", "verify", "--env", env, "--repair")
        assert repaired.code == 0, str(repaired)
        torn = True

    admin.clear_faults()
    rerun = project.run("apply", "--env", env, "--auto-approve")
    assert rerun.code == 0, str(rerun)
    assert project.run("plan", "--env", env, "--detailed-exitcode").code == 0
    assert project.run("audit", "verify", "--env", env).code == 0

    # every model's live version is what state records
    live = admin.live_versions(list(models.values()))
    assert project.recorded_versions() == {address: live[model_id] for address, model_id in models.items()}

    # every PUT the gateway accepted has exactly one success entry; every intent has an outcome
    entries = project.audit()
    accepted = Counter(admin.model_of(put) for put in admin.puts(status=200))
    assert sum(accepted.values()) >= sum(accepted_before_rerun.values())
    successes = Counter(e["model_id"] for e in entries if e.get("action") == "configuration_update" and e["status"] == "success")
    assert successes == accepted
    outcomes = {e.get("operation_id") for e in entries if e.get("status") in ("success", "failure")}
    unsettled = [e["address"] for e in entries if e.get("status") == "pending" and e["operation_id"] not in outcomes]
    assert unsettled == []

    # governance heard of every success once the re-run flushed (receivers deduplicate by event id)
    success_ids = {e["audit_id"] for e in entries if e.get("action") == "configuration_update" and e["status"] == "success"}
    delivered_ids = {d["body"]["event_id"] for d in admin.deliveries()}
    assert delivered_ids == success_ids
    return torn


def start_project(
    root: Path, make_sandbox: Callable[..., Any], *, models: int, applied_before: bool, latency_ms: float, parallelism: int = 4
) -> tuple[ApplyProject, SandboxAdmin, dict[str, str]]:
    sandbox = make_sandbox(rate_limit=30_000, extra_models=models)
    admin = SandboxAdmin(sandbox.url)
    project = ApplyProject(root, sandbox.url, webhook_url=f"{sandbox.url}/__sandbox/webhook")
    project.write_environment(parallelism=parallelism)
    written = project.add_generated(models)
    if applied_before:  # state.json exists and the kill hits an update of every model
        project.apply()
        for index in range(1, models + 1):
            project.edit_model(f"bench-{index:05d}", "max_tokens: 1024", "max_tokens: 2048")
    # PUT answers come latency_ms after the gateway applied them: a kill can fall in between
    admin.faults(rules=[{"match": {"method": "PUT"}, "effect": "slow_body", "delay_ms": latency_ms}])
    return project, admin, written


def slower_after(admin: SandboxAdmin, puts: int, *, latency_ms: float, then_ms: float) -> None:
    """The first ``puts`` PUT answers come ``latency_ms`` after the gateway applied them, the
    rest ``then_ms``: a test that signals the apply after a few outcomes still finds it running
    however late a busy machine lets it act (with every answer at 30 ms, the rest took 0.2 s)."""
    put = {"match": {"method": "PUT"}, "effect": "slow_body"}
    admin.faults(rules=[{**put, "delay_ms": latency_ms, "count": puts}, {**put, "delay_ms": then_ms}])


def sigkill_trial(seed: int, root: Path, make_sandbox: Callable[..., Any], *, models: int, parallelism: int, latency_ms: float) -> TrialResult:
    """Kill an apply at a random instant, then check everything; raises AssertionError on any broken promise."""
    rng = random.Random(seed)
    applied_before = seed % 2 == 1
    project, admin, written = start_project(root, make_sandbox, models=models, applied_before=applied_before, latency_ms=latency_ms, parallelism=parallelism)
    # the last PUT's answer never comes: however late the kill lands, it lands in a running apply
    slower_after(admin, models - 1, latency_ms=latency_ms, then_ms=600_000)
    child = project.start("apply", "--env", project.env, "--auto-approve", "--parallelism", str(parallelism))

    seen = child.wait_for_progress(rng.randint(1, models - 2 * parallelism))  # at least two rounds of PUTs left to interrupt
    threading.Event().wait(rng.uniform(0, latency_ms / 1000))  # a random instant within the next requests
    child.kill(signal.SIGKILL)
    done = child.finish()

    assert done.code == -signal.SIGKILL, f"the apply ended before it was killed (saw {seen} lines)\n{done}"
    accepted = Counter(admin.model_of(p) for p in admin.puts(status=200))
    torn = check_records_converge(project, admin, written, accepted)
    return TrialResult(seed, models, applied_before, seen, sum(accepted.values()), torn)

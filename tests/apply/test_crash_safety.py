"""An apply killed at a random instant (SIGKILL) or interrupted (Ctrl-C)
leaves records that read, verify and converge: nothing the gateway accepted
goes unrecorded, nothing unrecorded is claimed.

Each trial starts a real ``llmplan apply`` child against a sandbox that
answers every PUT a short while after applying it, waits for a random number of
progress lines (each printed once an outcome is recorded) plus a random
fraction of one request's latency, and kills it. The seed of every trial is
in the test id, so a failure can be replayed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest

from project import ApplyProject, SandboxAdmin

# More trials for a reliability run: LLMPLAN_CRASH_TRIALS=200 pytest tests/apply/test_crash_safety.py
TRIALS = int(os.environ.get("LLMPLAN_CRASH_TRIALS", "5"))
MODELS = 40
LATENCY_MS = 30
PARALLELISM = "4"


def check_records_converge(project: ApplyProject, admin: SandboxAdmin, models: dict[str, str], accepted_before_rerun: Counter) -> None:
    """What a user checks after a crash: records readable, trail intact (or only torn at the end), a
    re-run converges, and records agree with the gateway."""
    # state is readable: state.json parses, or is absent with the journal holding the records
    state_path = project.state_dir / "state.json"
    if state_path.exists():
        json.loads(state_path.read_text(encoding="utf-8"))
    shown = project.run("state", "show", "--env", "dev", "--format", "json")
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

    verify = project.run("audit", "verify", "--env", "dev")
    if verify.code != 0:
        assert "torn last line" in verify.stderr, str(verify)
        repaired = project.run("audit", "verify", "--env", "dev", "--repair")
        assert repaired.code == 0, str(repaired)

    admin.clear_faults()
    rerun = project.run("apply", "--env", "dev", "--auto-approve")
    assert rerun.code == 0, str(rerun)
    assert project.run("plan", "--env", "dev", "--detailed-exitcode").code == 0
    assert project.run("audit", "verify", "--env", "dev").code == 0

    # every model's live version is what state records
    live = admin.live_versions(list(models.values()))
    assert project.recorded_versions() == {address: live[model_id] for address, model_id in models.items()}

    # every PUT the gateway accepted has exactly one success entry; every intent has an outcome
    entries = project.audit()
    accepted = Counter(admin.model_of(put) for put in admin.puts(status=200))
    assert sum(accepted.values()) >= sum(accepted_before_rerun.values())
    successes = Counter(e["model_id"] for e in entries if e.get("action") == "configuration_update" and e["status"] == "success")
    assert successes == accepted
    outcomes = {e["operation_id"] for e in entries if e.get("status") in ("success", "failure")}
    unsettled = [e["address"] for e in entries if e.get("status") == "pending" and e["operation_id"] not in outcomes]
    assert unsettled == []

    # governance heard of every success once the re-run flushed (receivers deduplicate by event id)
    success_ids = {e["audit_id"] for e in entries if e.get("action") == "configuration_update" and e["status"] == "success"}
    delivered_ids = {d["body"]["event_id"] for d in admin.deliveries()}
    assert delivered_ids == success_ids


def start_project(tmp_path: Path, make_sandbox: Callable[..., Any], *, applied_before: bool) -> tuple[ApplyProject, SandboxAdmin, dict[str, str]]:
    sandbox = make_sandbox(rate_limit=30_000, extra_models=MODELS)
    admin = SandboxAdmin(sandbox.url)
    project = ApplyProject(tmp_path / "project", sandbox.url, webhook_url=f"{sandbox.url}/__sandbox/webhook")
    models = project.add_generated(MODELS)
    if applied_before:  # state.json exists and the kill hits an update of every model
        project.apply()
        for index in range(1, MODELS + 1):
            project.edit_model(f"bench-{index:05d}", "max_tokens: 1024", "max_tokens: 2048")
    # PUT answers come LATENCY_MS after the gateway applied them: a kill can fall in between
    admin.faults(rules=[{"match": {"method": "PUT"}, "effect": "slow_body", "delay_ms": LATENCY_MS}])
    return project, admin, models


@pytest.mark.parametrize("seed", range(TRIALS))
def test_sigkill_at_a_random_moment_leaves_records_that_converge(seed: int, tmp_path: Path, make_sandbox: Callable[..., Any]) -> None:
    rng = random.Random(seed)
    project, admin, models = start_project(tmp_path, make_sandbox, applied_before=seed % 2 == 1)
    child = project.start("apply", "--env", "dev", "--auto-approve", "--parallelism", PARALLELISM)

    seen = child.wait_for_progress(rng.randint(1, MODELS - 8))  # at least two rounds of PUTs left to interrupt
    threading.Event().wait(rng.uniform(0, LATENCY_MS / 1000))  # a random instant within the next requests
    child.kill(signal.SIGKILL)
    done = child.finish()

    assert done.code == -signal.SIGKILL, f"the apply ended before it was killed (saw {seen} lines)\n{done}"
    check_records_converge(project, admin, models, Counter(admin.model_of(p) for p in admin.puts(status=200)))


def test_ctrl_c_finishes_and_records_what_is_in_flight_then_exits_130(tmp_path: Path, make_sandbox: Callable[..., Any]) -> None:
    project, admin, models = start_project(tmp_path, make_sandbox, applied_before=False)
    child = project.start("apply", "--env", "dev", "--auto-approve", "--parallelism", PARALLELISM)

    child.wait_for_progress(MODELS // 4)
    child.kill(signal.SIGINT)
    done = child.finish()

    assert done.code == 130, str(done)
    assert "Interrupted." in done.stderr
    assert "Traceback" not in done.stderr
    # stopped scheduling: not everything was sent
    accepted = Counter(admin.model_of(p) for p in admin.puts(status=200))
    assert 0 < sum(accepted.values()) < MODELS
    # the in-flight PUTs finished and were recorded before exiting: no intent without an outcome
    entries = project.audit()
    successes = Counter(e["model_id"] for e in entries if e["status"] == "success")
    assert successes == accepted
    outcomes = {e["operation_id"] for e in entries if e["status"] in ("success", "failure")}
    assert [e for e in entries if e["status"] == "pending" and e["operation_id"] not in outcomes] == []
    assert project.run("audit", "verify", "--env", "dev").code == 0
    # and committed: state.json holds every accepted PUT, the journal is folded in
    state = project.state_document()
    assert state is not None
    assert sorted(r["model_id"] for r in state["resources"].values()) == sorted(accepted)
    check_records_converge(project, admin, models, accepted)


def test_a_torn_journal_line_from_a_crash_is_dropped_with_a_warning(project: ApplyProject, admin: SandboxAdmin) -> None:
    project.add_generated(2)
    project.apply()
    (project.state_dir / "journal.jsonl").write_bytes(b'{"lineage": "0f1e2d3c-')  # a crash in the middle of the first append
    project.edit_model("bench-00001", "max_tokens: 1024", "max_tokens: 2000")

    done = project.run("apply", "--env", "dev", "--auto-approve")

    assert done.code == 0, str(done)
    assert "Warning: " in done.stderr and "journal.jsonl: " in done.stderr and "torn last line" in done.stderr
    assert project.recorded_versions() == {"bench-00001": 2, "bench-00002": 1}
    assert not (project.state_dir / "journal.jsonl").exists()

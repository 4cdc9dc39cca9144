"""An apply killed at a random instant (SIGKILL) or interrupted (Ctrl-C)
leaves records that read, verify and converge: nothing the gateway accepted
goes unrecorded, nothing unrecorded is claimed.

The trial and its checks live in crash_checks.py, shared with the 100-trial
run of ``make reliability`` (benchmarks/crash_trials.py). The seed of every
trial is in the test id, so a failure can be replayed.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.apply.crash_checks import check_records_converge, sigkill_trial, slower_after, start_project
from tests.apply.project import ApplyProject, SandboxAdmin

# More trials for a reliability run: LLMPLAN_CRASH_TRIALS=200 pytest tests/apply/test_crash_safety.py
TRIALS = int(os.environ.get("LLMPLAN_CRASH_TRIALS", "5"))
MODELS = 40
LATENCY_MS = 30
PARALLELISM = 4


@pytest.mark.parametrize("seed", range(TRIALS))
def test_sigkill_at_a_random_moment_leaves_records_that_converge(seed: int, tmp_path: Path, make_sandbox: Callable[..., Any]) -> None:
    sigkill_trial(seed, tmp_path / "project", make_sandbox, models=MODELS, parallelism=PARALLELISM, latency_ms=LATENCY_MS)


def test_ctrl_c_finishes_and_records_what_is_in_flight_then_exits_130(tmp_path: Path, make_sandbox: Callable[..., Any]) -> None:
    project, admin, models = start_project(tmp_path / "project", make_sandbox, models=MODELS, applied_before=False, latency_ms=LATENCY_MS)
    slower_after(admin, MODELS // 4 + 2 * PARALLELISM, latency_ms=LATENCY_MS, then_ms=300)
    child = project.start("apply", "--env", "dev", "--auto-approve", "--parallelism", str(PARALLELISM))

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

"""One apply per environment at a time: the second is refused at once naming
the holder, or waits with --lock-timeout; the holder is visible; a killed
holder never leaves the environment locked.

The holder is an apply waiting at its confirmation prompt on a
pseudo-terminal: it holds the lock (taken before planning) for exactly as
long as the test needs, with no timing involved.
"""

from __future__ import annotations

import getpass
import json
import queue
import re
import signal
import socket
import threading
import time
from collections import Counter

import pytest

from tests.apply.crash_checks import slower_after
from tests.apply.project import ApplyProject, Child, Run, SandboxAdmin

MODELS = 6
PROMPT = "Only 'yes' will be accepted"


@pytest.fixture
def models(project: ApplyProject) -> dict[str, str]:
    return project.add_generated(MODELS)


def hold_the_lock(project: ApplyProject) -> Child:
    holder = project.start("apply", "--env", "dev", terminal=True)
    holder.wait_for_output(PROMPT)
    return holder


def test_a_second_apply_is_refused_at_once_naming_the_holder(project: ApplyProject, admin: SandboxAdmin, models: dict[str, str]) -> None:
    holder = hold_the_lock(project)

    # the holder is visible to anyone who looks
    shown = project.run("state", "show", "--env", "dev", "--format", "json")
    lock = json.loads(shown.stdout)["lock"]
    assert lock["operation"] == "apply" and lock["pid"] == holder.pid
    assert lock["who"] == f"{getpass.getuser()}@{socket.gethostname()}"
    text = project.run("state", "show", "--env", "dev")
    assert f"locked: apply (id {lock['id']}, {lock['who']}, pid {holder.pid}, since " in text.stdout

    started = time.monotonic()
    second = project.run("apply", "--env", "dev", "--auto-approve")
    took = time.monotonic() - started

    assert second.code == 1, str(second)
    assert f"Error: state of environment dev is locked by apply (id {lock['id']}, {lock['who']}, pid {holder.pid}, since " in second.stderr
    assert f"Hint: wait for it to finish (or pass --lock-timeout); if pid {holder.pid} on {socket.gethostname()} is stuck, stop it" in second.stderr
    assert took < 5, "refused at once, not after waiting"
    assert admin.puts() == []

    # force-unlock: a wrong id is refused, and a live holder's lock is never removed
    wrong = project.run("force-unlock", "--env", "dev", "00000000-0000-4000-8000-000000000000")
    assert wrong.code == 1 and "does not match the lock of environment dev" in wrong.stderr, str(wrong)
    live = project.run("force-unlock", "--env", "dev", lock["id"])
    assert live.code == 1 and "held by a live process" in live.stderr, str(live)

    holder.type("yes")
    done = holder.finish()
    assert done.code == 0, str(done)
    assert len(admin.puts(status=200)) == MODELS  # exactly one apply ran
    assert "not locked" in project.run("state", "show", "--env", "dev").stdout


def test_lock_timeout_waits_for_the_holder(project: ApplyProject, admin: SandboxAdmin, models: dict[str, str]) -> None:
    holder = hold_the_lock(project)

    started = time.monotonic()
    timed_out = project.run("apply", "--env", "dev", "--auto-approve", "--lock-timeout", "0.5")
    assert time.monotonic() - started >= 0.5
    assert timed_out.code == 1 and f"pid {holder.pid}" in timed_out.stderr, str(timed_out)

    waiter = project.start("apply", "--env", "dev", "--auto-approve", "--lock-timeout", "60")
    holder.type("yes")
    first, second = holder.finish(), waiter.finish()

    assert first.code == 0, str(first)
    assert second.code == 0, str(second)
    assert "No changes. Nothing to apply." in second.stdout  # it planned once the holder was done
    assert len(admin.puts(status=200)) == MODELS


def test_two_applies_started_together_exactly_one_runs(project: ApplyProject, admin: SandboxAdmin, models: dict[str, str]) -> None:
    # a slow gateway keeps whichever takes the lock busy far longer than the other needs to start
    admin.faults(latency_ms=1000)
    children = [project.start("apply", "--env", "dev", "--auto-approve", "--parallelism", "1") for _ in range(2)]
    finished: "queue.Queue[tuple[Child, Run]]" = queue.Queue()
    for child in children:
        threading.Thread(target=lambda c=child: finished.put((c, c.finish())), daemon=True).start()

    _, refused = finished.get(timeout=30)
    admin.faults(latency_ms=0)
    winner, applied = finished.get(timeout=60)

    assert refused.code == 1, str(refused)
    assert applied.code == 0, str(applied)
    assert f"Apply complete: {MODELS} succeeded" in applied.stdout
    assert len(admin.puts(status=200)) == MODELS
    assert project.run("audit", "verify", "--env", "dev").code == 0
    # Started in the same instant, the loser may look in the few milliseconds between the winner's
    # flock and its lock.json being written: then it cannot name the holder (reported to state.py's owner).
    named = re.search(rf"Error: state of environment dev is locked by apply \(id [0-9a-f-]{{36}}, .+@.+, pid {winner.pid}, since ", refused.stderr)
    assert named or "locked by another process (its lock.json is missing or being written)" in refused.stderr, str(refused)


def test_a_killed_holder_leaves_the_environment_unlocked(project: ApplyProject, admin: SandboxAdmin, models: dict[str, str]) -> None:
    slower_after(admin, MODELS - 1, latency_ms=100, then_ms=600_000)  # the last answer never comes: the kill finds it running
    holder = project.start("apply", "--env", "dev", "--auto-approve", "--parallelism", "1")
    holder.wait_for_progress(2)  # four PUTs still to go
    holder.kill(signal.SIGKILL)
    assert holder.finish().code == -signal.SIGKILL
    assert (project.state_dir / "lock.json").exists()  # the metadata stays; the OS lock went with the process

    shown = project.run("state", "show", "--env", "dev")
    assert shown.code == 0 and "not locked" in shown.stdout, str(shown)
    admin.clear_faults()
    again = project.run("apply", "--env", "dev", "--auto-approve")
    assert again.code == 0, str(again)
    assert project.run("plan", "--env", "dev", "--detailed-exitcode").code == 0


def test_force_unlock_clears_a_lock_whose_holder_is_gone(project: ApplyProject, models: dict[str, str]) -> None:
    """For backends whose locks outlive a process: the metadata of a dead holder."""
    project.state_dir.mkdir(parents=True)
    stale = {"id": "5b1f0c56-0d7e-4c3e-9a51-2f8f3c1f7a10", "operation": "apply", "who": "ci@runner-7", "pid": 999_999, "created": "2026-11-24T10:00:00.000Z", "path": str(project.state_dir / "state.json")}
    (project.state_dir / "lock.json").write_text(json.dumps(stale), encoding="utf-8")

    removed = project.run("force-unlock", "--env", "dev", stale["id"])

    assert removed.code == 0, str(removed)
    assert f"Lock {stale['id']} of environment dev removed." in removed.stdout
    assert not (project.state_dir / "lock.json").exists()
    assert project.run("apply", "--env", "dev", "--auto-approve").code == 0


def test_a_lock_file_removed_mid_apply_stops_that_apply_and_each_landing_is_recorded_once(project: ApplyProject, admin: SandboxAdmin) -> None:
    """Someone deletes state/dev/.lock while an apply runs and starts another: the fencing token
    stops the first one's writes; what it landed is settled once by the second."""
    project.add_generated(24)
    admin.faults(latency_ms=150)  # so that the first apply is mid-way when its lock goes
    running = project.start("apply", "--env", "dev", "--auto-approve")
    running.wait_for_progress(6)
    (project.state_dir / ".lock").unlink()
    second = project.run("apply", "--env", "dev", "--auto-approve")
    lost = running.finish()

    assert lost.code == 1, str(lost)
    # whichever came first: its watchdog saw the lock file go, or its next write met the new holder's token
    assert re.search(r"Error: (\S+/state/dev/\.lock was removed or replaced while apply held it|the lock of environment dev was taken over by (apply \(id |another holder))", lost.stderr), str(lost)
    assert second.code == 0, str(second)
    landed = Counter(admin.model_of(put) for put in admin.puts(status=200))
    assert sum(landed.values()) == 24 and set(landed.values()) == {1}
    successes = [entry for entry in project.audit() if entry["action"] == "configuration_update" and entry["status"] == "success"]
    assert Counter(entry["model_id"] for entry in successes) == landed  # each landing recorded exactly once
    events = {SandboxAdmin.verified_event(delivery)["event_id"] for delivery in admin.deliveries()}
    assert events == {entry["audit_id"] for entry in successes}  # one event id per landing
    assert project.run("audit", "verify", "--env", "dev").code == 0
    assert project.run("plan", "--env", "dev", "--detailed-exitcode").code == 0

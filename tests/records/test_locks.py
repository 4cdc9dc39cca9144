"""The state lock: one holder per environment, across processes and threads; kill -9 never leaves it stuck."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from planner.adapters.records.local_lock import LocalLocker
from planner.model.errors import LockHeld, StateError

HOLD_LOCK = """
import sys
from pathlib import Path
from planner.adapters.records.local_lock import LocalLocker
backend = LocalLocker(Path(sys.argv[1]))
info = backend.lock(sys.argv[2])
print(info.info.id, flush=True)
sys.stdin.readline()
backend.unlock(info)
print("unlocked", flush=True)
sys.stdin.readline()
"""


def env_dir(tmp_path: Path) -> Path:
    return tmp_path / "state" / "dev"


def test_force_unlock_refuses_a_holder_in_this_process(tmp_path: Path) -> None:
    holder = LocalLocker(env_dir(tmp_path))
    lease = holder.lock("apply")
    with pytest.raises(StateError, match=f"pid {os.getpid()}"):
        LocalLocker(env_dir(tmp_path)).force_unlock(lease.info.id)
    holder.unlock(lease)


def test_lock_timeout_polls_until_the_holder_leaves(tmp_path: Path, clock) -> None:
    holder = LocalLocker(env_dir(tmp_path))
    held = holder.lock("apply")

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.sleeps) == 3:
            holder.unlock(held)  # the holder finishes while we wait

    waiter = LocalLocker(env_dir(tmp_path), clock=clock, sleep=sleep, poll_interval=0.25)
    got = waiter.lock("apply", timeout=10.0)
    assert clock.sleeps == [0.25, 0.25, 0.25]
    waiter.unlock(got)


def test_lock_timeout_gives_up_at_the_deadline(tmp_path: Path, clock) -> None:
    holder = LocalLocker(env_dir(tmp_path))
    held = holder.lock("apply")
    waiter = LocalLocker(env_dir(tmp_path), clock=clock, sleep=clock.sleep, poll_interval=0.4)
    with pytest.raises(LockHeld, match=held.info.id):
        waiter.lock("plan", timeout=1.0)
    assert clock.sleeps == pytest.approx([0.4, 0.4, 0.2])  # never sleeps past the deadline
    holder.unlock(held)



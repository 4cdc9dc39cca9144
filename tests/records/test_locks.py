"""The state lock: one holder per environment, across processes and threads; kill -9 never leaves it stuck."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

from planner.errors import LockHeld, StateError
from planner.records.local_lock import LocalLocker

HOLD_LOCK = """
import sys
from pathlib import Path
from planner.records.local_lock import LocalLocker
backend = LocalLocker(Path(sys.argv[1]))
info = backend.lock(sys.argv[2])
print(info.id, flush=True)
sys.stdin.readline()
backend.unlock(info)
print("unlocked", flush=True)
sys.stdin.readline()
"""


def env_dir(tmp_path: Path) -> Path:
    return tmp_path / "state" / "dev"


def test_a_second_locker_in_another_process_fails_at_once_naming_the_holder(tmp_path: Path, spawn: Callable) -> None:
    holder = spawn(HOLD_LOCK, str(env_dir(tmp_path)), "apply")
    lock_id = holder.line()
    backend = LocalLocker(env_dir(tmp_path))

    started = time.monotonic()
    with pytest.raises(LockHeld) as held:
        backend.lock("plan")
    assert time.monotonic() - started < 1.0
    message = str(held.value)
    assert message.startswith("state of environment dev is locked by apply (id ")
    assert lock_id in message and f"pid {holder.process.pid}" in message and "@" in message and "since 20" in message
    assert held.value.hint == f"wait for it to finish (or pass --lock-timeout); if pid {holder.process.pid} on {socket.gethostname()} is stuck, stop it: the OS releases the lock when it exits"
    assert held.value.holder["pid"] == holder.process.pid

    holder_info = backend.holder()
    assert holder_info is not None and holder_info.id == lock_id and holder_info.operation == "apply"

    holder.send("unlock")
    assert holder.line() == "unlocked"
    assert backend.holder() is None
    assert not (env_dir(tmp_path) / "lock.json").exists()
    mine = backend.lock("apply")
    backend.unlock(mine)


def test_kill_9_of_the_holder_releases_the_lock(tmp_path: Path, spawn: Callable) -> None:
    holder = spawn(HOLD_LOCK, str(env_dir(tmp_path)), "apply")
    dead_id = holder.line()
    holder.kill()

    backend = LocalLocker(env_dir(tmp_path))
    assert json.loads((env_dir(tmp_path) / "lock.json").read_text())["id"] == dead_id  # stale metadata remains
    assert backend.holder() is None  # but nobody holds the lock
    started = time.monotonic()
    mine = backend.lock("apply")
    assert time.monotonic() - started < 1.0
    assert json.loads((env_dir(tmp_path) / "lock.json").read_text())["id"] == mine.id  # replaced
    assert mine.pid == os.getpid()
    backend.unlock(mine)


def test_force_unlock_removes_the_metadata_of_a_dead_holder_only_with_its_id(tmp_path: Path, spawn: Callable) -> None:
    holder = spawn(HOLD_LOCK, str(env_dir(tmp_path)), "apply")
    dead_id = holder.line()
    backend = LocalLocker(env_dir(tmp_path))

    with pytest.raises(StateError, match=f"held by a live process \\(pid {holder.process.pid}"):
        backend.force_unlock(dead_id)
    assert (env_dir(tmp_path) / "lock.json").exists()

    holder.kill()
    with pytest.raises(StateError, match="does not match"):
        backend.force_unlock("not-the-id")
    assert (env_dir(tmp_path) / "lock.json").exists()

    backend.force_unlock(dead_id)
    assert not (env_dir(tmp_path) / "lock.json").exists()
    with pytest.raises(StateError, match="has no lock to remove"):
        backend.force_unlock(dead_id)


def test_force_unlock_refuses_a_holder_in_this_process(tmp_path: Path) -> None:
    holder = LocalLocker(env_dir(tmp_path))
    info = holder.lock("apply")
    with pytest.raises(StateError, match=f"pid {os.getpid()}"):
        LocalLocker(env_dir(tmp_path)).force_unlock(info.id)
    holder.unlock(info)


def test_locks_exclude_threads_of_one_process(tmp_path: Path) -> None:
    winners: list[str] = []
    losers: list[str] = []
    barrier = threading.Barrier(8)

    def contend() -> None:
        backend = LocalLocker(env_dir(tmp_path))
        barrier.wait()
        try:
            winners.append(backend.lock("apply").id)
        except LockHeld as held:
            losers.append(str(held))

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1 and len(losers) == 7


def test_the_same_backend_cannot_take_its_own_lock_twice(tmp_path: Path) -> None:
    backend = LocalLocker(env_dir(tmp_path))
    first = backend.lock("apply")
    with pytest.raises(LockHeld, match=first.id):
        backend.lock("apply")
    backend.unlock(first)
    with pytest.raises(StateError, match="not held by this process"):
        backend.unlock(first)


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
    with pytest.raises(LockHeld, match=held.id):
        waiter.lock("plan", timeout=1.0)
    assert clock.sleeps == pytest.approx([0.4, 0.4, 0.2])  # never sleeps past the deadline
    holder.unlock(held)


def test_lock_timeout_waits_for_a_holder_in_another_process(tmp_path: Path, spawn: Callable) -> None:
    holder = spawn(HOLD_LOCK, str(env_dir(tmp_path)), "apply")
    holder.line()
    result: list[object] = []
    backend = LocalLocker(env_dir(tmp_path), poll_interval=0.01)
    waiting = threading.Thread(target=lambda: result.append(backend.lock("apply", timeout=30.0)))
    waiting.start()
    holder.send("unlock")
    waiting.join(timeout=30)
    assert holder.line() == "unlocked"
    assert len(result) == 1 and result[0].operation == "apply"  # type: ignore[attr-defined]
    backend.unlock(result[0])  # type: ignore[arg-type]

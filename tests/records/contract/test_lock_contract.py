"""Locker: one holder at a time, named on contention; a killed holder never leaves it locked; a lost
lock is noticed and its holder's writes refused (fencing) — on every backend."""

from __future__ import annotations

import os
import threading
from typing import Callable

import pytest

from planner.adapters.records.interfaces import Change, Lease
from planner.model.errors import LockHeld, LockLost, StateError
from tests.records.contract.contract_backends import OPEN_IN_CHILD, Backend, make_resource, until_freed, update_fields
from tests.records.records_helpers import holding

HOLD_LOCK = OPEN_IN_CHILD + """
lease = records.locker.lock(sys.argv[2])
print(lease.info.id, flush=True)
sys.stdin.readline()
records.locker.unlock(lease)
print("unlocked", flush=True)
sys.stdin.readline()
"""


def test_a_second_locker_is_refused_at_once_naming_the_holder(backend: Backend) -> None:
    first, second = backend.open(), backend.open()
    held = first.locker.lock("apply")
    with pytest.raises(LockHeld) as refused:
        second.locker.lock("plan")
    message = str(refused.value)
    assert message.startswith("state of environment dev is locked by apply (id ")
    assert held.info.id in message and f"pid {os.getpid()}" in message and "@" in message
    assert refused.value.holder["id"] == held.info.id
    holder = second.locker.holder()
    assert holder is not None and holder.id == held.info.id and holder.operation == "apply" and holder.host
    first.locker.unlock(held)
    assert second.locker.holder() is None
    mine = second.locker.lock("apply")
    second.locker.unlock(mine)


def test_the_same_handle_cannot_take_its_own_lock_twice(backend: Backend) -> None:
    records = backend.open()
    first = records.locker.lock("apply")
    with pytest.raises(LockHeld, match=first.info.id):
        records.locker.lock("apply")
    records.locker.unlock(first)
    with pytest.raises(StateError, match="not held by this process"):
        records.locker.unlock(first)


def test_a_holder_in_another_process_is_named_and_its_kill_9_frees_the_lock(backend: Backend, spawn: Callable) -> None:
    holder = spawn(HOLD_LOCK, backend.child_spec(), "apply", env=backend.child_environ())
    lock_id = holder.line()
    records = backend.open()
    with pytest.raises(LockHeld, match=lock_id):
        records.locker.lock("apply")
    seen = records.locker.holder()
    assert seen is not None and seen.id == lock_id and seen.pid == holder.process.pid
    with pytest.raises(StateError, match="live"):
        records.locker.force_unlock(lock_id)  # never while the holder lives
    holder.kill()
    until_freed(records)
    mine = records.locker.lock("apply")  # at once: the dead holder left nothing that blocks
    records.locker.unlock(mine)
    assert records.locker.holder() is None


def test_force_unlock_needs_the_exact_id_and_clears_a_dead_holder_s_description(backend: Backend, spawn: Callable) -> None:
    holder = spawn(HOLD_LOCK, backend.child_spec(), "apply", env=backend.child_environ())
    dead_id = holder.line()
    holder.kill()
    records = backend.open()
    until_freed(records)
    with pytest.raises(StateError, match="does not match"):
        records.locker.force_unlock("5b1f0c56-0d7e-4c3e-9a51-2f8f3c1f7a10")
    records.locker.force_unlock(dead_id)
    with pytest.raises(StateError, match="no lock to remove"):
        records.locker.force_unlock(dead_id)


def test_a_waiting_locker_gets_the_lock_when_the_holder_leaves(backend: Backend, spawn: Callable) -> None:
    holder = spawn(HOLD_LOCK, backend.child_spec(), "apply", env=backend.child_environ())
    holder.line()
    records = backend.open()
    got: list[Lease] = []
    waiting = threading.Thread(target=lambda: got.append(records.locker.lock("apply", timeout=60.0)))
    waiting.start()
    holder.send("unlock")
    waiting.join(timeout=60)
    assert holder.line() == "unlocked"
    assert len(got) == 1 and got[0].info.operation == "apply"
    records.locker.unlock(got[0])


def test_the_lock_excludes_threads_of_one_process(backend: Backend) -> None:
    inside = 0
    most = 0
    counter = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        records = backend.open()
        for _ in range(5):
            lease = records.locker.lock("apply", timeout=60.0)
            with counter:
                inside += 1
                most = max(most, inside)
            with counter:
                inside -= 1
            records.locker.unlock(lease)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1


def test_each_holding_takes_a_higher_fencing_token(backend: Backend) -> None:
    records = backend.open()
    tokens = []
    for _ in range(3):
        with holding(records) as lease:
            tokens.append(lease.token)
            assert records.locker.lost(lease) is None  # held: nothing lost
    assert tokens == sorted(tokens) and len(set(tokens)) == 3


def test_a_lost_lock_is_noticed_and_the_old_holder_s_writes_are_refused_once_another_holds_it(backend: Backend) -> None:
    first = backend.open()
    old = first.locker.lock("apply")
    first.record(old, [Change(audit_fields=update_fields(1, status="pending"))])
    backend.break_lock()  # its session ended, its lock file removed: the holder does not know
    assert first.locker.lost(old) is not None
    second = backend.open()
    until_freed(second)
    new = second.locker.lock("apply")  # someone else takes it at once
    assert new.token > old.token
    reason = first.locker.lost(old)
    assert reason is not None and ("taken over" in reason or "ended" in reason or "removed" in reason)
    with pytest.raises(LockLost):
        first.record(old, [Change(audit_fields=update_fields(1), resource=make_resource(1))])  # a PUT that landed late
    with pytest.raises(LockLost):
        first.commit(old)
    second.record(new, [Change(audit_fields=update_fields(2))])
    committed = second.commit(new)
    assert "model-0001" not in committed.resources  # nothing of the old holder's late write
    statuses = [(entry.get("address"), entry["status"]) for entry in second.audit.entries()]
    assert statuses.count(("model-0001", "success")) == 0 and second.audit.verify().ok
    second.locker.unlock(new)

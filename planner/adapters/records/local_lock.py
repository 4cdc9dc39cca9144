"""The lock of an environment whose records are files: an ``flock`` on ``state/<env>/.lock``, and its fencing token.

The OS lock is held on an open descriptor, so the OS releases it when the
holder dies (``kill -9`` never leaves an environment locked); ``lock.json``
beside it says who holds it. Nothing assumes the holder runs on this
machine: a holder on another host (a shared folder) is described by its
``host``, and only a holder on this host can be checked for a live process.

An OS lock can be lost without its holder noticing: someone removes
``.lock`` and the next process locks a new file of that name. So each
acquisition takes the next fencing token, kept in ``state/<env>/fence``,
and every write checks, under a short ``flock`` of that file, that its
lease's token is still the current one (:meth:`LocalLocker.fenced`): the
old holder's next write is refused.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from planner.adapters.files import atomic_write_text, fsync_directory, remove_durably
from planner.adapters.identity import new_lock_info
from planner.adapters.records.interfaces import Lease
from planner.adapters.waiting import announce_wait
from planner.model.clock import utc_now
from planner.model.errors import LockHeld, LockLost, StateError
from planner.model.state import LockInfo

LOCK_FILE = ".lock"
LOCK_METADATA_FILE = "lock.json"
FENCE_FILE = "fence"


def process_alive(pid: int) -> bool:
    """Whether a process of this machine still runs (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_alive(holder: LockInfo) -> bool:
    """A holder on this host is alive if its process is; one elsewhere is taken at its word."""
    if holder.host and holder.host != socket.gethostname():
        return True
    return process_alive(holder.pid)


class LocalLocker:
    """The lock of one ``state/<env>/`` folder. ``clock`` and ``sleep`` drive the timeout (injectable for tests)."""

    def __init__(
        self,
        directory: Path,
        *,
        environment: str | None = None,
        poll_interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        recorded_fence: Callable[[], int] = lambda: 0,
    ) -> None:
        """``recorded_fence``: the highest token the records themselves carry (the journal's), so a
        removed ``fence`` file never hands out a token an earlier holder already had."""
        self.directory = Path(directory)
        self.environment = environment or self.directory.name
        self._recorded_fence = recorded_fence
        self._poll_interval = poll_interval
        self._clock = clock
        self._sleep = sleep
        self._held: dict[str, int] = {}
        self._held_mutex = threading.Lock()

    @property
    def lock_path(self) -> Path:
        return self.directory / LOCK_FILE

    @property
    def lock_metadata_path(self) -> Path:
        return self.directory / LOCK_METADATA_FILE

    @property
    def fence_path(self) -> Path:
        return self.directory / FENCE_FILE

    def lock(self, operation: str, *, timeout: float = 0.0) -> Lease:
        self.directory.mkdir(parents=True, exist_ok=True)
        deadline = self._clock() + max(timeout, 0.0)
        announced = False
        while True:
            fd = self._try_flock()
            if fd is not None:
                break
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise self._lock_held()
            if not announced:
                holder = self._read_lock_metadata()
                announce_wait(remaining, f"the lock of environment {self.environment}" + (f", held by {holder.describe()}" if holder else ""))
                announced = True
            self._sleep(min(self._poll_interval, remaining))
        try:
            previous = self._read_lock_metadata()
            token = self._next_token(previous.fence if previous is not None and previous.fence else 0)
            info = dataclasses.replace(new_lock_info(operation, where=str(self.lock_path), now=utc_now()), fence=token)
            # Stale metadata of a dead holder is simply replaced.
            atomic_write_text(self.lock_metadata_path, json.dumps(info.to_dict(), indent=2) + "\n")
        except BaseException:
            os.close(fd)
            raise
        with self._held_mutex:
            self._held[info.id] = fd
        return Lease(info, token)

    def _next_token(self, previous: int) -> int:
        """Take the next fencing token: higher than any this environment's records have seen."""
        fd = os.open(self.fence_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # waits for a writer checking the old token to finish its write
            token = max(_token_in(fd), previous, self._recorded_fence()) + 1
            text = f"{token}\n".encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, text, 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_directory(self.directory)
        return token

    @contextmanager
    def fenced(self, lease: Lease) -> Iterator[None]:
        """Hold the fence while writing: LockLost unless ``lease`` still has the current token.

        The next holder takes its token under the same ``flock``, so a write
        that passed this check ends before the token moves on.
        """
        try:
            fd = os.open(self.fence_path, os.O_RDONLY)
        except FileNotFoundError:
            raise LockLost(f"the lock of environment {self.environment} was broken: {self.fence_path} was removed while {lease.info.operation} held it") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            current = _token_in(fd)
            if current != lease.token:
                raise self._taken_over(lease, current)
            yield
        finally:
            os.close(fd)

    def lost(self, lease: Lease) -> str | None:
        """Why ``lease`` no longer holds the lock, or None while it does."""
        with self._held_mutex:
            fd = self._held.get(lease.info.id)
        if fd is None:
            return f"lock {lease.info.id} of environment {self.environment} is not held by this process"
        try:
            replaced = os.stat(self.lock_path).st_ino != os.fstat(fd).st_ino
        except FileNotFoundError:
            replaced = True
        try:
            with self.fenced(lease):
                pass
        except LockLost as taken:
            return taken.message
        if replaced:
            return f"{self.lock_path} was removed or replaced while {lease.info.operation} held it"
        return None

    def _taken_over(self, lease: Lease, current: int) -> LockLost:
        return lease.taken_over(self.environment, current, self._read_lock_metadata())

    def _try_flock(self) -> int | None:
        """An open descriptor holding the OS lock, or None if someone else holds it."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _lock_held(self) -> LockHeld:
        # The holder writes lock.json just after taking the OS lock: a loser
        # racing it may find no file, or the file of a dead earlier holder.
        # Give it a moment to describe itself before falling back to "someone".
        holder = self._read_lock_metadata()
        deadline = self._clock() + 1.0
        while (holder is None or not holder_alive(holder)) and self._clock() < deadline:
            self._sleep(0.02)
            holder = self._read_lock_metadata()
        if holder is not None and not holder_alive(holder):
            holder = None
        if holder is None:
            return LockHeld(
                f"state of environment {self.environment} is locked by another process "
                f"(its {LOCK_METADATA_FILE} is missing or being written)",
                hint="wait for it to finish and retry",
            )
        return LockHeld(
            f"state of environment {self.environment} is locked by {holder.describe()}",
            holder.to_dict(),
            hint=f"wait for it to finish (or pass --lock-timeout); if pid {holder.pid} on {holder.host or 'its host'} is stuck, stop it: the OS releases the lock when it exits",
        )

    def _read_lock_metadata(self) -> LockInfo | None:
        try:
            data = json.loads(self.lock_metadata_path.read_text(encoding="utf-8"))
            return LockInfo.from_dict(data, where=str(self.lock_path))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def unlock(self, lease: Lease) -> None:
        lock = lease.info
        with self._held_mutex:
            fd = self._held.pop(lock.id, None)
        if fd is None:
            raise StateError(f"lock {lock.id} on environment {self.environment} is not held by this process")
        try:
            current = self._read_lock_metadata()
            if current is not None and current.id == lock.id:
                # Before releasing: once released, the next holder's metadata must not be removed by us.
                remove_durably(self.lock_metadata_path)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)  # explicit: a forked child may share this descriptor
            os.close(fd)

    def holder(self) -> LockInfo | None:
        """The live holder, or None. Probes the OS lock, which is the truth; lock.json only describes it."""
        if not self.lock_path.exists():
            return None
        fd = self._try_flock()
        if fd is None:
            return self._read_lock_metadata() or LockInfo(id="unknown", operation="unknown", who="unknown", pid=0, created="unknown", where=str(self.lock_path))
        os.close(fd)
        return None

    def force_unlock(self, lock_id: str) -> None:
        """Remove the metadata of a lock whose holder is gone; refused for a live holder or a wrong id."""
        current = self._read_lock_metadata()
        if current is None:
            raise StateError(f"state of environment {self.environment} has no lock to remove")
        if current.id != lock_id:
            raise StateError(
                f"lock id {lock_id} does not match the lock of environment {self.environment} ({current.describe()})",
                hint="copy the id from the error that named the holder",
            )
        fd = self._try_flock()
        if fd is None:
            raise StateError(
                f"lock {lock_id} of environment {self.environment} is held by a live process "
                f"(pid {current.pid}, {current.who}); refusing to force-unlock",
                hint="wait for it to finish, or stop that process: the OS releases its lock when it exits",
            )
        try:
            # Holding the OS lock ourselves, no new holder can write metadata while we remove the stale one.
            again = self._read_lock_metadata()
            if again is not None and again.id == lock_id:
                remove_durably(self.lock_metadata_path)
        finally:
            os.close(fd)


def _token_in(fd: int) -> int:
    """The token a fence file holds (0 when empty or unreadable: the next holder takes 1, or more)."""
    try:
        return int(os.pread(fd, 64, 0).decode("ascii").strip() or 0)
    except (ValueError, UnicodeDecodeError):
        return 0

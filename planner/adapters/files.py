"""Durable file writes: the one place that knows how to not lose data.

A crash (or ``kill -9``) at any instant must leave either the old or the new
content, never a torn file; appends must be on disk before the caller reports
the outcome they record.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from planner.model.errors import ConfigurationError


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new file in ``directory`` survive a power cut."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str, *, backup: bool = False, mode: int | None = None) -> None:
    """Replace ``path`` with ``text``: temp file in the same folder, fsync, rename.

    With ``backup``, the previous content is kept as ``<name>.backup`` (a hard
    link, so the old file is never absent in between). The new file keeps the
    permissions of the one it replaces, else ``mode`` (default 0644, like the
    appended files; a temp file alone would be 0600, unreadable for example
    by node_exporter reading metrics.prom).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        permissions = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        permissions = 0o644 if mode is None else mode
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, permissions)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if backup and path.exists():
            backup_path = path.with_name(path.name + ".backup")
            backup_temp = backup_path.with_name(f".{backup_path.name}.tmp")
            backup_temp.unlink(missing_ok=True)
            os.link(path, backup_temp)
            os.replace(backup_temp, backup_path)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def append_line_durably(path: Path, line: str) -> None:
    """Append one line (``\\n`` added) and fsync before returning."""
    if "\n" in line:
        raise ValueError("a journal line may not contain a newline")
    append_bytes_durably(path, (line + "\n").encode("utf-8"))


def append_bytes_durably(path: Path, data: bytes) -> None:
    """Append raw bytes and fsync before returning (for fragments that are not UTF-8 lines)."""
    append_bytes(path, data, durable=True)


def append_bytes(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Append in one write (whole, or not at all, should the process die); ``durable``: fsync before returning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    if created and durable:
        fsync_directory(path.parent)


def fsync_file(path: Path) -> None:
    """Make what was written to ``path`` (and its name in its folder) survive a power cut; nothing if it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_directory(path.parent)


def truncate_durably(path: Path, size: int) -> None:
    """Cut ``path`` to ``size`` bytes and fsync (dropping a torn tail)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_durably(path: Path) -> None:
    """Delete ``path`` (if present) so that the deletion survives a power cut."""
    try:
        path.unlink()
    except FileNotFoundError:
        return
    fsync_directory(path.parent)


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an OS lock on ``path`` (created if needed) for a short critical section.

    ``flock`` locks belong to an open file, so this excludes other threads as
    well as other processes, and the OS drops it if the holder dies.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the flock


@dataclass(frozen=True)
class JsonLines:
    """A JSON-lines file as read back after a possible crash.

    ``records`` are the parsed lines before the first problem. A crash in the
    middle of an append leaves a *torn tail*: a last line without its newline,
    or one that does not parse; it starts at byte ``torn_offset``. An
    unparsable line that is not the last cannot come from a crash:
    ``bad_line`` (1-based) names it, and reading stops there.
    """

    records: tuple[Any, ...]
    torn_offset: int | None = None
    torn_fragment: bytes = b""
    bad_line: int | None = None
    bad_reason: str = ""

    @property
    def torn(self) -> bool:
        return self.torn_offset is not None


def read_json_lines(path: Path) -> JsonLines:
    """Parse a JSON-lines file written with :func:`append_line_durably`; absent = empty."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return JsonLines(records=())
    records: list[Any] = []
    offset = 0
    number = 0
    while offset < len(data):
        number += 1
        end = data.find(b"\n", offset)
        is_last = end == -1 or end == len(data) - 1
        if end == -1:
            return JsonLines(tuple(records), torn_offset=offset, torn_fragment=data[offset:])
        try:
            records.append(json.loads(data[offset:end].decode("utf-8")))
        except (UnicodeDecodeError, ValueError):
            if is_last:
                return JsonLines(tuple(records), torn_offset=offset, torn_fragment=data[offset : end + 1])
            reason = "empty line" if end == offset else "not valid JSON"
            return JsonLines(tuple(records), bad_line=number, bad_reason=reason)
        offset = end + 1
    return JsonLines(tuple(records))


@dataclass(frozen=True)
class Line:
    """One line of a JSON-lines file as streamed: where it starts, its bytes, and whether it ended."""

    offset: int
    raw: bytes  # without the newline
    complete: bool  # False: the file ends inside this line (a torn write)

    @property
    def end(self) -> int:
        return self.offset + len(self.raw) + (1 if self.complete else 0)


def iter_lines(path: Path, offset: int = 0) -> Iterator[Line]:
    """Stream the lines of ``path`` from byte ``offset``: constant memory, however long the file."""
    try:
        handle = open(path, "rb", buffering=1 << 20)
    except FileNotFoundError:
        return
    with handle:
        handle.seek(offset)
        position = offset
        for chunk in handle:
            complete = chunk.endswith(b"\n")
            raw = chunk[:-1] if complete else chunk
            yield Line(position, raw, complete)
            position += len(chunk)


def write_new_file(path: Path, text: str) -> None:
    """Create ``path`` durably; never overwrite a file that exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise ConfigurationError(f"{path} already exists; not overwriting it") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    fsync_directory(path.parent)

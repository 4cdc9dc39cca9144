"""Durable file writes: the one place that knows how to not lose data.

A crash (or ``kill -9``) at any instant must leave either the old or the new
content, never a torn file; appends must be on disk before the caller reports
the outcome they record.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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


def atomic_write_text(path: Path, text: str, *, backup: bool = False) -> None:
    """Replace ``path`` with ``text``: temp file in the same folder, fsync, rename.

    With ``backup``, the previous content is kept as ``<name>.backup`` (a hard
    link, so the old file is never absent in between).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
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
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        data = (line + "\n").encode("utf-8")
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_directory(path.parent)

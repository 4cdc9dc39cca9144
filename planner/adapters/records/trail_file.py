"""Reading a JSON-lines trail file (``audit.jsonl``) without reading more of it than needed:
from a byte offset on, one line at its end, or from the first line of a time on.

Each line is one canonical JSON object. An unparsable *last* line is a
torn write (a crash); an unparsable line with more after it cannot come
from a crash and is reported as bad.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from planner.adapters.files import Line, iter_lines


@dataclass(frozen=True)
class Scanned:
    """One line met by :func:`scan`: a parsed entry, a torn tail, or a bad (unparsable, not last) line."""

    line: Line
    entry: Any = None
    torn: bool = False
    bad: str | None = None


def scan(path: Path, offset: int = 0) -> Iterator[Scanned]:
    """Lines from ``offset``, parsed, stopping after the first torn or bad one.

    An unparsable *last* line is a torn write (a crash); an unparsable line
    with more after it cannot come from a crash and is reported as bad.
    """
    held: Line | None = None
    for line in iter_lines(path, offset):
        if held is not None:
            scanned = _parsed(held, last=False)
            yield scanned
            if scanned.bad is not None:
                return
        held = line
    if held is not None:
        yield _parsed(held, last=True)


_NOT_JSON = object()


def _parse(line: Line) -> Any:
    if not line.complete or not line.raw:
        return _NOT_JSON
    try:
        return json.loads(line.raw)
    except ValueError:  # UnicodeDecodeError is a ValueError
        return _NOT_JSON


def _parsed(line: Line, *, last: bool) -> Scanned:
    entry = _parse(line)
    if entry is not _NOT_JSON:
        return Scanned(line, entry)
    if last:
        return Scanned(line, torn=True)
    return Scanned(line, bad="empty line" if not line.raw else "not valid JSON")




_LINEAR_BELOW = 1 << 16  # bytes: below this the binary search reads the rest line by line


def first_at_or_after(path: Path, since: str) -> int:
    """The byte offset of the first line stamped at or after ``since`` (the file's size if none).

    A binary search over byte offsets: a probe lands inside some line, skips
    to the next line start and reads that one line. A line that does not
    parse (a torn tail) counts as earlier than ``since``. Invariant: every
    line starting before ``low`` is earlier; ``high`` is a line start that
    is not (or the end of the file).
    """
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return 0
    with handle:
        low, high = 0, os.fstat(handle.fileno()).st_size
        while high - low > _LINEAR_BELOW:
            middle = (low + high) // 2
            handle.seek(middle - 1)
            handle.readline()  # the rest of the line holding byte middle - 1
            start = handle.tell()
            if start >= high:  # one long line spans [middle, high): read the rest in order
                break
            line = handle.readline()
            if _stamp(line) >= since:
                high = start
            else:
                low = start + len(line)
        handle.seek(low)
        position = low
        while position < high:
            line = handle.readline()
            if not line or _stamp(line) >= since:
                return position if line else high
            position += len(line)
        return high


def _stamp(raw: bytes) -> str:
    """The ``timestamp`` of one audit line; "" when it has none (a torn or bad line)."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return ""
    stamp = entry.get("timestamp") if isinstance(entry, dict) else None
    return stamp if isinstance(stamp, str) else ""


def last_line(path: Path, end: int, block: int = 8192) -> bytes:
    """The line that ends at byte ``end`` of ``path`` (with its newline, or the torn fragment); b"" if none."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return b""
    with handle:
        position = end
        buffer = b""
        while position > 0:
            step = min(block, position)
            position -= step
            handle.seek(position)
            buffer = handle.read(step) + buffer
            start = buffer.rfind(b"\n", 0, len(buffer) - 1)
            if start != -1:
                return buffer[start + 1 :]
        return buffer

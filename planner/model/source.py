"""A parsed YAML file as data: plain JSON values and the line of every JSON path.

Parsing is :mod:`planner.core.yamlsource`; every problem found in a file
names a path in the form :func:`format_path` writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class SourceDocument:
    """A parsed file: plain data plus the 1-based line of every JSON path.

    ``written`` holds, for each unquoted value YAML did not read as text
    (``yes`` read as true, ``0x1F`` as 31), its 1-based column and its text
    as written: a message explains how YAML read such a value without the
    file being read or composed again.
    """

    file: str
    data: Any
    lines: Mapping[JsonPath, int] = field(default_factory=dict)
    written: Mapping[JsonPath, tuple[int, str]] = field(default_factory=dict, repr=False, compare=False)

    def line_of(self, path: JsonPath) -> int | None:
        """Line of ``path`` or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def format_path(path: JsonPath) -> str:
    """``("safety_filters", 1, "threshold")`` -> ``safety_filters[1].threshold``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out

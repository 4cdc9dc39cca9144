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
    """A parsed file: plain data plus the 1-based line of every JSON path, and the text it was read from.

    ``text`` lets a message explain how YAML read a value (where it is
    written, and as what) without reading the file again.
    """

    file: str
    data: Any
    lines: Mapping[JsonPath, int] = field(default_factory=dict)
    text: str = field(default="", repr=False, compare=False)

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

"""Explaining how YAML read a value, for a problem that needs it.

A value where text is expected may be text only in the eyes of its author:
YAML 1.1 reads an unquoted ``yes`` as the boolean true and ``0x1F`` as the
number 31. These helpers find the value as written (its line, column and
text) and say what YAML made of it. They parse the file again, and only
when a problem needs them, so loading keeps no column for every value of
every file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from planner.core.yamlsource import _Loader
from planner.model.printable import shorten
from planner.model.source import JsonPath

# YAML 1.1 (PyYAML, and so llmplan) reads these unquoted words as booleans
_YAML11_BOOLEAN_WORDS = frozenset("yes Yes YES no No NO on On ON off Off OFF".split())


@dataclass(frozen=True)
class Written:
    """A scalar as it stands in the file: where, and its text as written."""

    line: int
    column: int
    text: str
    plain: bool  # unquoted


def written_at(text: str, path: JsonPath) -> Written | None:
    """The scalar at ``path`` of a YAML text, or None (not a scalar, not found, unreadable)."""
    try:
        node: Any = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((value for key, value in node.value if isinstance(key, yaml.ScalarNode) and key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            return None
    if not isinstance(node, yaml.ScalarNode):
        return None
    return Written(node.start_mark.line + 1, node.start_mark.column + 1, node.value, not node.style)  # plain: no style (libyaml says "")


def reading_note(written: Written, value: Any) -> str | None:
    """Why an unquoted value is not text, for a place that expects text: what YAML read it as, and the fix."""
    if not written.plain or isinstance(value, str) or value is None:
        return None
    shown = shorten(written.text)
    if isinstance(value, bool):
        reading = "true" if value else "false"
        if written.text in _YAML11_BOOLEAN_WORDS:
            return f"YAML 1.1 reads the unquoted word {shown} as the boolean {reading} (as it does yes, no, on and off); put it in quotes (\"{shown}\") if you meant the word"
        return f"YAML reads the unquoted {shown} as the boolean {reading}; put it in quotes (\"{shown}\") if you meant the word"
    if isinstance(value, (int, float)):
        as_read = repr(value) if isinstance(value, float) else str(value)
        read = f" as the number {as_read}" if as_read != written.text else " as a number"
        return f"YAML reads the unquoted {shown}{read}; put it in quotes (\"{shown}\") if you meant text"
    return None

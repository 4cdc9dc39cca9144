"""Explaining how YAML read a value, for a problem that needs it.

A value where text is expected may be text only in the eyes of its author:
YAML 1.1 reads an unquoted ``yes`` as the boolean true and ``0x1F`` as the
number 31. Loading (:mod:`planner.core.yamlsource`) keeps, for every
unquoted value it did not read as text, its column and its text as written;
these helpers say what YAML made of it, without reading the file again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from planner.model.printable import shorten
from planner.model.source import JsonPath

# YAML 1.1 (PyYAML, and so llmplan) reads these unquoted words as booleans
_YAML11_BOOLEAN_WORDS = frozenset("yes Yes YES no No NO on On ON off Off OFF".split())


@dataclass(frozen=True)
class Written:
    """An unquoted scalar as it stands in the file: its column and its text as written."""

    column: int
    text: str


def written_at(written: Mapping[JsonPath, tuple[int, str]], path: JsonPath) -> Written | None:
    """The unquoted non-text scalar at ``path``, from a document's ``written`` map, or None."""
    found = written.get(path)
    return Written(*found) if found is not None else None


def reading_note(written: Written, value: Any) -> str | None:
    """Why an unquoted value is not text, for a place that expects text: what YAML read it as, and the fix."""
    if isinstance(value, str) or value is None:
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

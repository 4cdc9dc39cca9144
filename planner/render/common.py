"""Pieces every rendering shares: values as plans show them, colours, counts, safety sections, field lines.

Each renderer (plan, drift, records) reads plain data and writes text; none decides anything.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Iterable, TextIO

from planner.core.safety import old_new
from planner.model.plan import FieldChange
from planner.model.printable import printable
from planner.model.safety import Classification, Finding

COLORS = {"+": "\x1b[32m", "~": "\x1b[33m", "-": "\x1b[31m", "!": "\x1b[1;33m", "bold": "\x1b[1m"}
RESET = "\x1b[0m"


def value_text(value: Any) -> str:
    """A value as the user wrote it, compactly: JSON scalars and flow mappings."""
    return printable(json.dumps(value, ensure_ascii=False, separators=(", ", ": "), sort_keys=True))



# Every arrow llmplan prints starts at the live value: live → YAML (what apply would change),
# live → last applied (what was changed outside llmplan). Each section says which, in its legend.
LIVE_TO_YAML = "live → YAML"
LIVE_TO_APPLIED = "live → last applied"


def weakening_rows(items: Iterable[tuple[str, Classification]], *, to_live: bool = False) -> list[tuple[str, Finding]]:
    """(model, finding) for every weakening of the given classifications. ``to_live``: the
    classification is of a change *to* live (made outside llmplan), shown turned around so that
    it too reads from the live value."""
    rows = [(model, finding) for model, classification in items for finding in classification.weakenings]
    return [(model, replace(finding, before=finding.after, after=finding.before)) for model, finding in rows] if to_live else rows



def safety_text(out: TextIO, heading: str, rows: list[tuple[str, Finding]], paint: Any, *, legend: str | None = None) -> None:
    out.write(paint("!", heading) + "\n\n")
    if legend:
        out.write(f"  (each line reads {legend})\n\n")
    for model, finding in rows:
        out.write(f"  {paint('!', '!')} {printable(f'{model}: {finding.path}: {old_new(finding)}')}\n      {printable(finding.reason)}\n")
    out.write("\n")



def safety_markdown(out: TextIO, heading: str, rows: list[tuple[str, Finding]], *, legend: str = LIVE_TO_YAML) -> None:
    out.write(f"#### ⚠️ {heading}\n\n| model | field | {legend} | why |\n|---|---|---|---|\n")
    for model, finding in rows:
        cells = (f"`{model}`", f"`{finding.path}`", f"`{old_new(finding)}`", finding.reason)
        out.write("| " + " | ".join(printable(cell).replace("|", "\\|") for cell in cells) + " |\n")
    out.write("\n")



def from_live(changes: Iterable[FieldChange]) -> tuple[FieldChange, ...]:
    """Field changes made *to* live (last applied → live), turned to read from live like every other arrow."""
    return tuple(FieldChange(change.path, change.after, change.before) for change in changes)



def count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"



def field_lines(changes: Iterable[FieldChange]) -> list[tuple[str, str]]:
    """(symbol, text) per field change."""
    lines = []
    for change in changes:
        path = printable(change.path)
        if change.kind == "added":
            lines.append(("+", f"{path}: {value_text(change.after)}"))
        elif change.kind == "removed":
            lines.append(("-", f"{path}: {value_text(change.before)}"))
        else:
            lines.append(("~", f"{path}: {value_text(change.before)} → {value_text(change.after)}"))
    return lines



def diff_details(out: TextIO, summary: str, sections: Iterable[tuple[str, Iterable[FieldChange]]]) -> None:
    """A collapsed ``diff`` block: one ``@@ heading @@`` and its field lines per model."""
    out.write(f"\n<details><summary>{summary}</summary>\n\n```diff\n")
    for heading, changes in sections:
        out.write(f"@@ {printable(heading)} @@\n")
        out.write("".join(diff_lines(changes)))
    out.write("```\n\n</details>\n")



def diff_lines(changes: Iterable[FieldChange]) -> list[str]:
    """Field changes as ``diff`` lines so GitHub colors them."""
    lines = []
    for change in changes:
        if change.before is not None:
            lines.append(f"-   {printable(change.path)}: {value_text(change.before)}\n")
        if change.after is not None:
            lines.append(f"+   {printable(change.path)}: {value_text(change.after)}\n")
    return lines

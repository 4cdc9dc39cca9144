"""The drift reports of several environments as one report: the one cron job of a fleet.

The summary names only the environments that need someone (drift, or an
error); the others are counted, not listed, so thirty regions without drift
make one line. Each environment that needs someone gets its section, exactly
as ``llmplan drift --env`` alone shows it. The JSON document holds every
environment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TextIO

from planner.core.drift import DriftReport
from planner.model.fleet import EnvironmentResult
from planner.model.printable import printable
from planner.render.common import COLORS, RESET, count
from planner.render.drift import drift_document, render_drift_markdown, render_drift_text
from planner.render.fleet import (
    DASH,
    code_first,
    error_markdown,
    error_text,
    first_line,
    fleet_document,
    markdown_table,
    members,
    section_break,
    section_heading,
    text_table,
)

HEADER = ("environment", "drifted", "weakened outside", "unmanaged", "status")
NUMBERS = (1, 2, 3)



@dataclass(frozen=True)
class Focus:
    """What the summary names an environment for (as the exit code counts it), and the words for it."""

    noteworthy: Callable[[DriftReport], bool]
    found: str = "drifted"  # "1 drifted"
    none: str = "no drift"
    quiet: str = "without drift"  # "3 environments without drift"


DRIFT = Focus(lambda report: report.has_drift)
WEAKENED = Focus(
    lambda report: bool(report.weakened_outside),
    "with safety weakened outside llmplan",
    "no safety weakened outside llmplan",
    "without safety weakened outside llmplan",
)


def _named(results: Sequence[EnvironmentResult[DriftReport]], focus: Focus) -> list[EnvironmentResult[DriftReport]]:
    """The environments the summary names: those in focus (drifted, say) or failed."""
    return [result for result in results if result.result is None or focus.noteworthy(result.result)]


def _status(report: DriftReport) -> str:
    words = ["drift"] if report.has_drift else ["no drift"]
    if report.weakened_outside:
        words.append("safety weakened outside llmplan")
    if report.unmanaged:
        words.append("unmanaged configurations")
    return ", ".join(words)


def _row(result: EnvironmentResult[DriftReport], *, failed_mark: str = "") -> list[str]:
    report = result.result
    if report is None:
        assert result.error is not None
        return [result.environment, DASH, DASH, DASH, f"{failed_mark}failed: {first_line(result.error)}"]
    return [result.environment, f"{len(report.drifted)} of {report.total}", str(len(report.weakened_outside)), str(len(report.unmanaged)), _status(report)]


def _counts(results: Sequence[EnvironmentResult[DriftReport]], focus: Focus) -> str:
    found = sum(1 for result in results if result.result is not None and focus.noteworthy(result.result))
    failed = sum(1 for result in results if result.failed)
    parts = [f"{found} {focus.found}" if found else focus.none, *([f"{failed} failed"] if failed else [])]
    return ", ".join(parts)


def _quiet_line(results: Sequence[EnvironmentResult[DriftReport]], focus: Focus) -> str:
    """The environments not named, counted; unmanaged configurations among them said by environment."""
    quiet = [result.result for result in results if result.result is not None and not focus.noteworthy(result.result)]
    if not quiet:
        return ""
    line = f"{count(len(quiet), 'environment')} {focus.quiet}"
    unmanaged = [f"{report.environment} ({len(report.unmanaged)})" for report in quiet if report.unmanaged]
    if unmanaged:
        line += f"; unmanaged configurations (in no YAML file) in {', '.join(unmanaged)}"
    return line + "."


def render_drifts_text(results: Sequence[EnvironmentResult[DriftReport]], out: TextIO, focus: Focus, *, color: bool = False) -> None:
    bold = (lambda text: f"{COLORS['bold']}{text}{RESET}") if color else (lambda text: text)
    named = _named(results, focus)
    out.write(bold(f"Drift check of {count(len(results), 'environment')}: {_counts(results, focus)}.") + "\n\n")
    if named:
        text_table(out, HEADER, [_row(result) for result in named], right=NUMBERS)
    quiet = _quiet_line(results, focus)
    if quiet:
        out.write(quiet + "\n")
    for result in named:
        out.write("\n")
        section_heading(out, result.environment)
        if result.result is not None:
            render_drift_text(result.result, out, color=color)
        elif result.error is not None:
            error_text(out, result.error)


def render_drifts_markdown(results: Sequence[EnvironmentResult[DriftReport]], out: TextIO, focus: Focus) -> None:
    """An issue body: the title, the named environments' table, the others counted, then a section per named environment."""
    named = _named(results, focus)
    out.write(f"### llmplan drift · {count(len(results), 'environment')} · {_counts(results, focus)}\n\n")
    if named:
        markdown_table(out, HEADER, [code_first(_row(result, failed_mark="❌ ")) for result in named], right=NUMBERS)
    quiet = _quiet_line(results, focus)
    if quiet:
        out.write(printable(quiet) + "\n")
    for result in named:
        section_break(out)
        if result.result is not None:
            render_drift_markdown(result.result, out)
        elif result.error is not None:
            error_markdown(out, result.error, command="drift", environment=result.environment)


def drifts_document(results: Sequence[EnvironmentResult[DriftReport]]) -> dict[str, Any]:
    summary = {
        "environments": len(results),
        "drifted": [result.environment for result in results if result.result is not None and result.result.has_drift],
        "weakened_outside": [result.environment for result in results if result.result is not None and result.result.weakened_outside],
        "failed": [result.environment for result in results if result.failed],
        "without_drift": sum(1 for result in results if result.result is not None and not result.result.has_drift),
    }
    return fleet_document("drift", members(results, drift_document, command="drift"), summary)


def render_drifts(results: Sequence[EnvironmentResult[DriftReport]], out: TextIO, output_format: str, *, focus: Focus = DRIFT, color: bool = False) -> None:
    """``focus``: what the summary names an environment for, as the exit code counts it (--fail-on-weakening, --fail-on-unmanaged)."""
    if output_format == "json":
        out.write(json.dumps(drifts_document(results), ensure_ascii=False, separators=(",", ":")) + "\n")
    elif output_format == "markdown":
        render_drifts_markdown(results, out, focus)
    else:
        render_drifts_text(results, out, focus, color=color)

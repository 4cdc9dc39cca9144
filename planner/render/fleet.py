"""The pieces of a report over several environments: a summary table on top, then one section per environment.

Plans and drift reports of several environments share these (see
:mod:`planner.render.fleet_plan` and :mod:`planner.render.fleet_drift`): the
table in text and markdown, an environment's section heading, a failed
environment's error in its section, and the JSON document with a member per
environment.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence, TextIO, TypeVar

from planner import __version__
from planner.model.errors import LlmplanError
from planner.model.fleet import EnvironmentResult
from planner.model.printable import printable
from planner.render.errors import error_document, render_error

T = TypeVar("T")

FLEET_FORMAT_VERSION = "1.0"  # of the document that holds one member per environment
DASH = "—"


def text_table(out: TextIO, header: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[int] = ()) -> None:
    """Columns padded to their widest cell, indented two spaces; ``right``: the columns of numbers."""
    cells = [list(header), *[[printable(cell) for cell in row] for row in rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    for row in cells:
        line = "  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row))
        out.write(f"  {line.rstrip()}\n")
    out.write("\n")


def markdown_table(out: TextIO, header: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[int] = ()) -> None:
    out.write("| " + " | ".join(header) + " |\n")
    out.write("|" + "|".join("--:" if i in right else "---" for i in range(len(header))) + "|\n")
    for row in rows:
        out.write("| " + " | ".join(cell_text(cell) for cell in row) + " |\n")
    out.write("\n")


def cell_text(text: str) -> str:
    """A markdown table cell: one line, its pipes escaped."""
    return printable(text.replace("\n", " ")).replace("|", "\\|")


def section_heading(out: TextIO, environment: str) -> None:
    """Where a text section starts: the environment's name in a rule, easy to find in a long log."""
    out.write(f"── {printable(environment)} {'─' * max(3, 60 - len(environment))}\n\n")


def section_break(out: TextIO) -> None:
    """Between two markdown sections (a blank line first, so the rule is never read as a heading's underline)."""
    out.write("\n---\n\n")


def first_line(error: LlmplanError) -> str:
    return (error.message.splitlines() or [""])[0]


def error_text(out: TextIO, error: LlmplanError) -> None:
    """A failed environment's section in text: the error as it would be said alone."""
    out.write(f"Error: {printable(error.message, newlines=True)}\n")
    if error.hint:
        out.write(f"Hint: {printable(error.hint)}\n")


def error_markdown(out: TextIO, error: LlmplanError, *, command: str, environment: str) -> None:
    render_error(error, out, "markdown", command=command, environment=environment)


def fleet_document(command: str, members: Mapping[str, dict[str, Any]], summary: dict[str, Any]) -> dict[str, Any]:
    """One JSON document for the whole run: a member per environment (the single-environment
    document, or an error's diagnostics), a summary, and ``errored`` when any failed."""
    return {
        "format_version": FLEET_FORMAT_VERSION,
        "llmplan_version": __version__,
        "command": command,
        "errored": any(member.get("errored") for member in members.values()),
        "summary": summary,
        "environments": dict(members),
    }


def members(results: Sequence[EnvironmentResult[T]], document: Callable[[T], dict[str, Any]], *, command: str) -> dict[str, dict[str, Any]]:
    """The JSON member of each environment: its own document, or its error's diagnostics."""
    found: dict[str, dict[str, Any]] = {}
    for result in results:
        if result.result is not None:
            found[result.environment] = document(result.result)
        elif result.error is not None:
            found[result.environment] = error_document(result.error, command=command, environment=result.environment)
    return found


def code_first(row: list[str]) -> list[str]:
    """A markdown table row whose first cell, the environment's name, is shown as code."""
    return [f"`{row[0]}`", *row[1:]]

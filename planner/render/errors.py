"""Errors in the format the caller asked for: Terraform's diagnostics in JSON, a block for a PR comment.

A `plan --format json` that fails must still leave the machine reading stdout
something to read, and a PR comment must say the plan failed and why.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from planner.model.errors import LlmplanError, ValidationFailed
from planner.model.printable import printable


def diagnostics(error: LlmplanError) -> list[dict[str, Any]]:
    """Terraform's diagnostic shape: severity, summary, detail, and where (file, line, path)."""
    if isinstance(error, ValidationFailed) and error.problems:
        return [
            {"severity": "error", "summary": problem.message, "detail": error.message.splitlines()[0], "file": problem.file, "line": problem.line, "column": problem.column, "path": problem.path}
            for problem in error.problems
        ]
    return [{"severity": "error", "summary": error.message, "detail": error.hint or "", "file": None, "line": None, "column": None, "path": None}]


def error_document(error: LlmplanError, *, command: str, environment: str | None) -> dict[str, Any]:
    document: dict[str, Any] = {"errored": True, "command": command, "environment": environment, "diagnostics": diagnostics(error)}
    if command.endswith("validate"):
        # validate's own JSON shape, kept: valid + problems beside the diagnostics
        problems = [p.to_dict() for p in error.problems] if isinstance(error, ValidationFailed) else [
            {"file": "environments/", "line": None, "path": "", "message": error.message}
        ]
        document.update(valid=False, problems=problems)
    return document


def render_error(error: LlmplanError, out: TextIO, output_format: str, *, command: str, environment: str | None) -> None:
    if output_format == "json":
        out.write(json.dumps(error_document(error, command=command, environment=environment), indent=2, ensure_ascii=False) + "\n")
        return
    where = f" · `{printable(environment)}`" if environment else ""
    out.write(f"### llmplan {command}{where} · failed\n\n")
    out.write("> [!CAUTION]\n> " + "\n> ".join(printable(line) for line in error.message.splitlines()[:1]) + "\n\n")
    if isinstance(error, ValidationFailed) and error.problems:
        out.write("| file | line | field | problem |\n|---|---|---|---|\n")
        for problem in error.problems:
            where = "—" if problem.line is None else str(problem.line) if problem.column is None else f"{problem.line}:{problem.column}"
            out.write(f"| `{printable(problem.file)}` | {where} | `{printable(problem.path or '—')}` | {_cell(problem.message)} |\n")
        out.write("\n")
    if error.hint:
        out.write(f"Hint: {printable(error.hint)}\n")


def _cell(text: str) -> str:
    return printable(text.replace("\n", " ")).replace("|", "\\|")

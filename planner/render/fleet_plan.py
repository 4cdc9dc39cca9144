"""The plans of several environments as one report: ONE pull-request comment, one JSON document.

A summary table on top (environment, what would change, status), then each
environment's plan exactly as ``llmplan plan --env`` alone shows it, or the
error that stopped it. As Atlantis comments on every project a pull request
touches, in one comment.
"""

from __future__ import annotations

import io
import json
from typing import Any, Sequence, TextIO

from planner.core.plan_file import to_document
from planner.model.fleet import EnvironmentResult
from planner.model.plan import CREATE, FORGET, UPDATE, Plan
from planner.model.printable import printable
from planner.render.common import COLORS, RESET, count
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
from planner.render.plan import render_markdown, render_text

HEADER = ("environment", "create", "update", "move", "forget", "status")
NUMBERS = (1, 2, 3, 4)


def plan_status(plan: Plan) -> str:
    if not plan.has_changes:
        words = ["no changes"]
    else:
        words = ["changes"]
        if plan.weakening:
            words.append("weakens safety")
    if plan.drift:
        words.append("changed outside llmplan")
    return ", ".join(words)


def _counts(results: Sequence[EnvironmentResult[Plan]]) -> str:
    plans = [result.result for result in results if result.result is not None]
    changed = sum(1 for plan in plans if plan.has_changes)
    failed = len(results) - len(plans)
    return ", ".join([f"{changed} with changes", f"{len(plans) - changed} without", *([f"{failed} failed"] if failed else [])])


def summary_line(results: Sequence[EnvironmentResult[Plan]]) -> str:
    return f"Plans of {count(len(results), 'environment')}: {_counts(results)}." if results else "No environment to plan."


def _row(result: EnvironmentResult[Plan], *, failed_mark: str) -> list[str]:
    plan = result.result
    if plan is None:
        assert result.error is not None
        return [result.environment, DASH, DASH, DASH, DASH, f"{failed_mark}failed: {first_line(result.error)}"]
    return [result.environment, str(plan.count(CREATE)), str(plan.count(UPDATE)), str(len(plan.moves)), str(plan.count(FORGET)), plan_status(plan)]


def render_plans_text(results: Sequence[EnvironmentResult[Plan]], out: TextIO, *, color: bool = False) -> None:
    bold = (lambda text: f"{COLORS['bold']}{text}{RESET}") if color else (lambda text: text)
    out.write(bold(summary_line(results)) + "\n\n")
    if not results:
        return
    text_table(out, HEADER, [_row(result, failed_mark="") for result in results], right=NUMBERS)
    for result in results:
        section_heading(out, result.environment)
        if result.result is not None:
            render_text(result.result, out, color=color)
        elif result.error is not None:
            error_text(out, result.error)
        out.write("\n")


def render_plans_markdown(results: Sequence[EnvironmentResult[Plan]], out: TextIO, *, empty: str = "") -> None:
    """One comment: the title, the table, then every environment's plan (or error) as it would be alone."""
    if not results:
        out.write(f"### llmplan plan · no environment to plan\n\n{printable(empty or summary_line(results))}\n")
        return
    out.write(f"### llmplan plan · {count(len(results), 'environment')} · {_counts(results)}\n\n")
    markdown_table(out, HEADER, [code_first(_row(result, failed_mark="❌ ")) for result in results], right=NUMBERS)
    for index, result in enumerate(results):
        if index:
            section_break(out)
        if result.result is not None:
            render_markdown(result.result, out)
        elif result.error is not None:
            error_markdown(out, result.error, command="plan", environment=result.environment)


def plans_document(results: Sequence[EnvironmentResult[Plan]]) -> dict[str, Any]:
    plans = [result.result for result in results if result.result is not None]
    summary = {
        "environments": len(results),
        "with_changes": sorted(plan.environment for plan in plans if plan.has_changes),
        "without_changes": sorted(plan.environment for plan in plans if not plan.has_changes),
        "failed": [result.environment for result in results if result.failed],
    }
    return fleet_document("plan", members(results, to_document, command="plan"), summary)


def render_plans(results: Sequence[EnvironmentResult[Plan]], out: TextIO, output_format: str, *, color: bool = False, empty: str = "") -> None:
    """``empty``: what to say when no environment was selected (``--changed-from`` found none changed)."""
    if output_format == "json":
        out.write(json.dumps(plans_document(results), ensure_ascii=False, separators=(",", ":")) + "\n")
    elif output_format == "markdown":
        render_plans_markdown(results, out, empty=empty)
    else:
        if not results and empty:
            out.write(f"{printable(empty)}\n")
            return
        render_plans_text(results, out, color=color)


def rendered_plans(results: Sequence[EnvironmentResult[Plan]], output_format: str) -> str:
    buffer = io.StringIO()
    render_plans(results, buffer, output_format)
    return buffer.getvalue()

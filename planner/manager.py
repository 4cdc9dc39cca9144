"""One function per command: the imperative shell that wires the pure core.

``cli.py`` parses options and calls exactly one function here; each function
loads, validates, talks to the gateway and records, and returns data for the
CLI to render.  Like octoDNS's Manager, this is the only module that knows
the whole flow.
"""

from __future__ import annotations

from pathlib import Path

from planner.environment import Environment, build_environment, read_environment
from planner.errors import ValidationFailed
from planner.validation import check_environment


def load_environment(root: Path, name: str) -> Environment:
    """Read and validate an environment offline; every problem at once."""
    source = read_environment(root, name)
    problems = check_environment(source)
    if problems:
        raise ValidationFailed(problems, what=f"environment {name} is not valid")
    return build_environment(source)

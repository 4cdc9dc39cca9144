"""Files a user names: saved plans to read and write, and reports written with ``--out``.

A path that cannot be read or written is the user's error to fix, named
with the path, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

from planner.adapters.files import atomic_write_text
from planner.core.plan_file import dumps, loads
from planner.model.errors import ConfigurationError, PlanFileError
from planner.model.plan import Plan


def read_plan_file(path: Path) -> Plan:
    """A saved plan, checked against its checksum and schema."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanFileError(f"plan file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanFileError(f"cannot read plan file {path}: {exc}") from exc
    return loads(text, source=f"plan file {path}")


def write_plan_file(plan: Plan, path: Path) -> None:
    write_output_file(path, dumps(plan), what="plan file")


def write_output_file(path: Path, text: str, *, what: str) -> None:
    """Write what the user asked for with ``--out``, whole or not at all."""
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise ConfigurationError(f"cannot write the {what} {path}: {exc.strerror or exc}", hint="pass --out a path in a writable folder") from exc

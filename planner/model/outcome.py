"""What happened to one change of an apply: the result the CLI reports and the exit code follows."""

from __future__ import annotations

from dataclasses import dataclass

from planner.model.audit import FAILURE, SUCCESS

UNKNOWN = "unknown"  # the answer was lost and could not be read back: the next apply settles it
SKIPPED = "skipped"  # not attempted (Ctrl-C, --fail-fast, a lost lock)
MOVE = "move"  # an outcome's action: a model recorded under its new address
OUTCOME_STATUSES = (SUCCESS, FAILURE, UNKNOWN, SKIPPED)


@dataclass(frozen=True)
class Outcome:
    """What happened to one change."""

    address: str
    model_id: str
    action: str
    status: str
    latency_ms: float = 0.0
    version: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    previous_address: str | None = None

"""How a command tells its user what is happening, and asks: one small interface per command, as Terraform's ``Hook``.

The application calls these; the CLI implements them (prompts on a
terminal, progress on stderr). Nothing in the application knows about
terminals, so the same orchestrator runs under the CLI, a test or another
program.
"""

from __future__ import annotations

from typing import Protocol, Sequence

from planner.model.outcome import Outcome
from planner.model.plan import Plan, ResourceChange


class ApplyHooks(Protocol):
    """What apply says and asks, in this order: the plan, the questions, then one outcome per change."""

    def plan_ready(self, plan: Plan) -> None:
        """The plan about to be applied (made now, or read from a file), before any question."""
        ...

    def approve(self, plan: Plan) -> bool:
        """Whether to apply a plan made now (a saved plan was approved in review); only a yes applies it."""
        ...

    def approve_weakenings(self, changes: Sequence[ResourceChange]) -> bool:
        """``apply.weakening: confirm``: whether to make these weakenings too."""
        ...

    def outcome(self, outcome: Outcome) -> None:
        """One change is done (succeeded, failed, unknown or skipped)."""
        ...


class Unattended:
    """Hooks for a run nobody watches: shows nothing and says no to every question."""

    def plan_ready(self, plan: Plan) -> None:
        return None

    def approve(self, plan: Plan) -> bool:
        return False

    def approve_weakenings(self, changes: Sequence[ResourceChange]) -> bool:
        return False

    def outcome(self, outcome: Outcome) -> None:
        return None

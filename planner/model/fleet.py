"""What became of each environment of a command run over several (``--env a --env b``, ``--all``, ``--changed-from``).

One result per environment, in the order they were selected: what the
command found there, or the error that stopped it there (the others went
on). Renderers read these; the CLI turns them into one exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Sequence, TypeVar

from planner.model.errors import LlmplanError

T = TypeVar("T")


@dataclass(frozen=True)
class EnvironmentResult(Generic[T]):
    """One environment's outcome: ``result`` when the command finished there, else ``error``."""

    environment: str
    result: T | None = None
    error: LlmplanError | None = None
    warnings: tuple[str, ...] = ()  # said on stderr, each naming its environment

    @property
    def failed(self) -> bool:
        return self.error is not None


def failed(results: Sequence[EnvironmentResult[T]]) -> list[EnvironmentResult[T]]:
    return [result for result in results if result.error is not None]


def finished(results: Sequence[EnvironmentResult[T]]) -> list[tuple[str, T]]:
    """(environment, result) of every environment the command finished."""
    return [(result.environment, result.result) for result in results if result.result is not None]

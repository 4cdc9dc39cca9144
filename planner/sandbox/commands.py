"""``llmplan sandbox …`` commands."""

from __future__ import annotations

import click


@click.group()
def sandbox() -> None:
    """Run the built-in sandbox gateway (a local stand-in for the real API)."""

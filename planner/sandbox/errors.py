"""Failures of the sandbox a user can expect: a bad data file, a bad address.

They belong to the project's one hierarchy (``planner.model.errors``) so the CLI
turns them into a message and exit code 1 like every other expected failure.
"""

from __future__ import annotations

from planner.model.errors import ConfigurationError


class SandboxError(ConfigurationError):
    """The sandbox cannot start as asked (address refused or in use, bad option)."""


class SandboxDataError(SandboxError):
    """The sandbox's data file (``--data``) is unreadable or not a sandbox store."""

    hint = "fix or delete the data file; the sandbox recreates it from its demo catalog"

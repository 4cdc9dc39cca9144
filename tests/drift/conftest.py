"""Fixtures of the drift, refresh and import tests: a project wired to a fresh sandbox (see e2e_project.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "plan"))

from e2e_project import Admin, Project  # noqa: E402

if TYPE_CHECKING:
    from planner.sandbox import RunningSandbox


# The client paces itself to the budget the gateway announces: at the default
# 300 a minute that is ~5 requests a second after a burst of 4, which would make
# every command here take a second or more. These tests are about plans, not
# pacing (tests/gateway covers it), so the sandbox grants a larger budget.
RATE_LIMIT = 30_000


@pytest.fixture
def sandbox(make_sandbox: Callable[..., "RunningSandbox"]) -> "RunningSandbox":
    return make_sandbox(rate_limit=RATE_LIMIT)


@pytest.fixture
def project(tmp_path: Path, sandbox: "RunningSandbox") -> Project:
    return Project(tmp_path / "project", sandbox.url)


@pytest.fixture
def admin(sandbox: "RunningSandbox") -> Admin:
    return Admin(sandbox.url)

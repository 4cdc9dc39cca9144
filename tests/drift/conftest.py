"""Fixtures of the drift, refresh and import tests: a project wired to a fresh sandbox (see e2e_project.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "plan"))

from e2e_project import RATE_LIMIT, Admin, Project  # noqa: E402

if TYPE_CHECKING:
    from planner.sandbox import RunningSandbox


@pytest.fixture
def sandbox(make_sandbox: Callable[..., "RunningSandbox"]) -> "RunningSandbox":
    return make_sandbox(rate_limit=RATE_LIMIT)


@pytest.fixture
def project(tmp_path: Path, sandbox: "RunningSandbox") -> Project:
    return Project(tmp_path / "project", sandbox.url)


@pytest.fixture
def admin(sandbox: "RunningSandbox") -> Admin:
    return Admin(sandbox.url)

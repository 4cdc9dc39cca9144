"""Fixtures of the end-to-end plan, drift, refresh and import tests: a
project wired to a fresh sandbox (see e2e_project.py).  Each folder's
conftest imports them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pytest

from tests.plan.e2e_project import RATE_LIMIT, Admin, Project

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

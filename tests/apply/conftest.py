"""Fixtures of the apply tests: a fresh sandbox, a project wired to it with
its governance webhook pointed at the sandbox's receiver, which verifies
signatures with the project's secret (see project.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pytest

from tests.apply.project import WEBHOOK_SECRET, ApplyProject, SandboxAdmin  # noqa: E402

if TYPE_CHECKING:
    from planner.sandbox import RunningSandbox

# A budget the pacer never has to wait for: these tests are about apply, not
# pacing (tests/gateway covers that), and the default 300 a minute would make
# every apply here take seconds.
RATE_LIMIT = 30_000


# Generated models (planner.model.catalog.generated_models) the tests may write YAML for.
GENERATED = 40


@pytest.fixture
def sandbox(make_sandbox: Callable[..., "RunningSandbox"]) -> "RunningSandbox":
    return make_sandbox(rate_limit=RATE_LIMIT, extra_models=GENERATED, webhook_secret=WEBHOOK_SECRET)


@pytest.fixture
def admin(sandbox: "RunningSandbox") -> SandboxAdmin:
    return SandboxAdmin(sandbox.url)


@pytest.fixture
def project(tmp_path: Path, sandbox: "RunningSandbox") -> ApplyProject:
    return ApplyProject(tmp_path / "project", sandbox.url, webhook_url=f"{sandbox.url}/__sandbox/webhook")

"""Fixtures of the drift, refresh and import tests: the plan tests' project wired to a fresh sandbox (see ../plan/e2e_fixtures.py)."""

from __future__ import annotations

from tests.plan.e2e_fixtures import admin, project, sandbox  # noqa: E402,F401

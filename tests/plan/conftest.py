"""Fixtures of the plan tests: a project wired to a fresh sandbox (see e2e_fixtures.py)."""

from __future__ import annotations

from tests.plan.e2e_fixtures import admin, project, sandbox  # noqa: E402,F401

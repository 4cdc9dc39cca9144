"""Fixtures of the user-experience tests (issue 15): the plan tests' project
wired to a fresh sandbox over HTTP (see ../plan/e2e_fixtures.py)."""

from __future__ import annotations

from tests.plan.e2e_fixtures import admin, project, sandbox  # noqa: E402,F401

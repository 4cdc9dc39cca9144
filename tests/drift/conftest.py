"""Fixtures of the drift, refresh and import tests: the plan tests' project wired to a fresh sandbox (see ../plan/e2e_fixtures.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "plan"))

from e2e_fixtures import admin, project, sandbox  # noqa: E402,F401

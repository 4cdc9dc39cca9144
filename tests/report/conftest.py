"""Fixtures of the report tests: a fleet with a real history (fleet.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from tests.report.fleet import Fleet, make_fleet


@pytest.fixture
def fleet(tmp_path: Path, make_sandbox: Callable[..., Any]) -> Fleet:
    return make_fleet(tmp_path / "project", make_sandbox)

"""Fixtures of the report tests: a fleet with a real history (fleet.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import Fleet, make_fleet  # noqa: E402


@pytest.fixture
def fleet(tmp_path: Path, make_sandbox: Callable[..., Any]) -> Fleet:
    return make_fleet(tmp_path / "project", make_sandbox)

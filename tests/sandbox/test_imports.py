"""The sandbox is reachable from llmplan. (That it imports only the model, never the
client's validation, is import-linter's contract in pyproject.toml.)"""

from __future__ import annotations

import subprocess
import sys


def test_the_sandbox_group_is_reachable_from_llmplan() -> None:
    result = subprocess.run([sys.executable, "-m", "planner", "sandbox", "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    assert "serve" in result.stdout

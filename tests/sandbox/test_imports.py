"""Each sandbox module imports on its own (no import cycles), and the CLI group loads lazily."""

from __future__ import annotations

import subprocess
import sys

MODULES = [
    "planner.sandbox",
    "planner.sandbox.answers",
    "planner.sandbox.app",
    "planner.sandbox.commands",
    "planner.sandbox.errors",
    "planner.sandbox.faults",
    "planner.sandbox.server",
    "planner.sandbox.store",
    "planner.sandbox.tokens",
]


def test_every_module_imports_alone() -> None:
    # One interpreter per module, all at once: a cycle only shows when its module is imported first.
    processes = {
        module: subprocess.Popen([sys.executable, "-c", f"import {module}"], stderr=subprocess.PIPE, text=True) for module in MODULES
    }
    failures = {module: process.communicate(timeout=60)[1] for module, process in processes.items() if process.wait(timeout=60) != 0}
    assert failures == {}


def test_the_sandbox_group_is_reachable_from_llmplan() -> None:
    result = subprocess.run([sys.executable, "-m", "planner", "sandbox", "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    assert "serve" in result.stdout

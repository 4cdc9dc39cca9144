"""Each sandbox module imports on its own (no import cycles), and the CLI group loads lazily."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SANDBOX = Path(__file__).resolve().parents[2] / "planner" / "sandbox"
MODULES = ["planner.sandbox", *sorted(f"planner.sandbox.{path.stem}" for path in SANDBOX.glob("*.py") if path.stem != "__init__")]


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


def test_the_sandbox_never_uses_the_clients_validation() -> None:
    """The fake judges PUTs by the schema files and its own rules: if it
    imported planner.core.validation, a bug there would make client and fake agree."""
    offenders = []
    for path in sorted(SANDBOX.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
            offenders += [f"{path.name}:{node.lineno}" for name in names if name == "planner.core.validation" or name.startswith("planner.core.validation.")]
    assert len(MODULES) >= 13 and offenders == []


def test_loading_the_whole_sandbox_does_not_load_the_clients_validation() -> None:
    imports = "; ".join(f"import {module}" for module in MODULES)
    check = f"import sys; {imports}; print('planner.core.validation' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "False"

"""Every module imports alone, and start-up loads only what the command needs.

Which layer may import which is import-linter's contract in pyproject.toml
(``make test`` runs ``lint-imports``); these checks run each module in a
fresh interpreter, so a module that imports only because an earlier test
imported something else first is caught, and ``sys.modules`` shows what a
start-up pulled in.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.foundation.foundation_helpers import REPO_ROOT

PACKAGE = REPO_ROOT / "planner"


def all_modules() -> list[str]:
    """planner's modules, and the benchmarks (run only by ``make bench``, so nothing else would see one break)."""
    names = []
    for path in sorted([*PACKAGE.rglob("*.py"), *(REPO_ROOT / "benchmarks").glob("*.py")]):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def run_python(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    modules = all_modules()
    assert "planner.cli" in modules and "planner.core.validation" in modules and "benchmarks.history_scale" in modules
    # started together, waited for together: 2 cores, not one interpreter start-up after another
    processes = {name: run_python(f"import importlib; importlib.import_module({name!r})") for name in modules}
    failures = {}
    for name, process in processes.items():
        _, stderr = process.communicate(timeout=120)
        if process.returncode != 0:
            failures[name] = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {process.returncode}"

    assert failures == {}


LOADED = """
import json, sys
from planner.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print(json.dumps(sorted(name for name in {heavy!r} if name in sys.modules)), file=sys.stderr)
"""
HEAVY = ["requests", "jsonschema", "deepdiff", "ruamel.yaml", "psycopg", "planner.sandbox", "planner.app"]


@pytest.mark.parametrize(
    ("argv", "may_load"),
    [
        (["--version"], []),
        (["--help"], []),
        (["plan", "--help"], ["planner.app", "requests"]),  # only the command asked for is loaded
        (["validate", "--help"], ["planner.app"]),  # validate sends no request: no HTTP client
        (["fmt", "--help"], ["planner.app"]),  # ruamel.yaml only when a file is formatted
    ],
)
def test_start_up_loads_only_what_the_command_needs(argv: list[str], may_load: list[str]) -> None:
    process = run_python(LOADED.format(argv=argv, heavy=HEAVY))
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert json.loads(stderr.strip().splitlines()[-1]) == may_load

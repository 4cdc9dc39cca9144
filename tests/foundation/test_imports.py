"""Every module imports alone, and start-up loads only what the command needs.

Which layer may import which is import-linter's contract in pyproject.toml
(``make test`` runs ``lint-imports``). Each check here runs in a fresh
interpreter, so a module that only imports because an earlier test imported
something else first is caught (import cycles, missing imports), and
``sys.modules`` shows exactly what importing pulled in. "Imports alone"
forks each module's interpreter from one that has loaded the third-party
libraries llmplan depends on and nothing of planner: the same check of
planner's own imports, without loading requests and jsonschema a hundred
times.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


# The project's runtime dependencies (pyproject.toml), by import name.
DEPENDENCIES = ["click", "requests", "jsonschema", "jsonschema_rs", "deepdiff", "yaml", "ruamel.yaml", "psycopg", "jinja2"]

FORK_EACH = """
import importlib, json, os, sys
for name in {dependencies!r}:
    importlib.import_module(name)
assert not [name for name in sys.modules if name.split(".")[0] == "planner"]
children = {{}}
for module in {modules!r}:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # this interpreter as it stands: no planner module loaded yet
        os.close(read)
        try:
            importlib.import_module(module)
            said = ""
        except BaseException as error:
            said = f"{{type(error).__name__}}: {{error}}"
        with os.fdopen(write, "w") as pipe:
            pipe.write(said or "ok")
        os._exit(0)
    os.close(write)
    children[module] = (pid, read)
failures = {{}}
for module, (pid, read) in children.items():
    with os.fdopen(read) as pipe:
        said = pipe.read()
    _, status = os.waitpid(pid, 0)
    if said != "ok" or status != 0:
        failures[module] = said or f"exit status {{status}}"
print(json.dumps(failures))
"""


def imports_alone(modules: list[str]) -> dict[str, str]:
    """Each module imported by a child forked from an interpreter holding only the dependencies; module → error."""
    process = run_python(FORK_EACH.format(dependencies=DEPENDENCIES, modules=modules))
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    failures: dict[str, str] = json.loads(stdout)
    return failures


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    modules = all_modules()
    assert "planner.cli" in modules and "planner.core.validation" in modules and "benchmarks.history_scale" in modules
    assert imports_alone(modules) == {}


def test_a_module_that_only_imports_after_another_is_caught(tmp_path: Path) -> None:
    """The forked check sees an import cycle (so a pass means something): a package whose
    two modules import each other's names works when one is loaded first, not the other."""
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "first.py").write_text("from cyclic.second import LATER\nEARLY = 1\n")
    (package / "second.py").write_text("from cyclic.first import EARLY\nLATER = 2\n")
    process = subprocess.Popen([sys.executable, "-c", FORK_EACH.format(dependencies=[], modules=["cyclic.first", "cyclic.second"])],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = process.communicate(timeout=60)
    failures = json.loads(stdout)
    assert sorted(failures) == ["cyclic.first", "cyclic.second"], stderr
    assert all(said.startswith("ImportError: cannot import name") for said in failures.values())


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

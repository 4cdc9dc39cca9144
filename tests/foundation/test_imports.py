"""Module boundaries: every module imports alone, the core stays free of the shell.

Each check runs in a fresh interpreter, so a module that only imports because
an earlier test imported something else first is caught (import cycles,
missing imports), and ``sys.modules`` shows exactly what importing pulled in.
"Imports alone" forks each module's interpreter from one that has loaded the
third-party libraries llmplan depends on and nothing of planner: the same
check of planner's own imports, without loading requests and jsonschema sixty
times (9 s of CPU, now about 1).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from foundation_helpers import REPO_ROOT

PACKAGE = REPO_ROOT / "planner"

# The functional core (design.md): must never import the CLI framework, the
# HTTP library or the sandbox gateway, even when used.
CORE = ["planner.yamlsource", "planner.configuration", "planner.environment", "planner.validation"]
CORE += ["planner.diff", "planner.safety", "planner.tfjson", "planner.plan", "planner.drift", "planner.render", "planner.render.records", "planner.render.errors"]
CORE += ["planner.build", "planner.yamlexplain", "planner.yamlfmt", "planner.render.drift", "planner.render.charset"]
FORBIDDEN = ["click", "requests", "urllib3", "planner.sandbox", "planner.cli", "planner.gateway"]


def all_modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def run_python(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# The project's runtime dependencies (pyproject.toml), by import name.
DEPENDENCIES = ["click", "requests", "jsonschema", "jsonschema_rs", "deepdiff", "yaml", "ruamel.yaml", "psycopg"]

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
    assert "planner.cli" in modules and "planner.validation" in modules
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


USE_THE_CORE = """
import json, sys
from pathlib import Path
import importlib
module = importlib.import_module({module!r})
if {module!r} in ("planner.environment", "planner.validation"):
    # exercise it too: lazy imports inside functions count
    from planner.loader import read_environment
    from planner.validation import check_environment
    assert check_environment(read_environment(Path("."), "dev")) == []
print(json.dumps(sorted(name for name in {forbidden!r} if name in sys.modules)))
"""


@pytest.mark.parametrize("module", CORE)
def test_the_core_never_imports_the_shell(module: str) -> None:
    process = run_python(USE_THE_CORE.format(module=module, forbidden=FORBIDDEN))
    stdout, stderr = process.communicate(timeout=120)

    assert process.returncode == 0, stderr
    assert json.loads(stdout) == [], f"{module} pulled in {stdout.strip()}"


def test_the_check_itself_can_fail() -> None:
    """The probe sees a forbidden module when one is imported (so a pass means something)."""
    process = run_python(USE_THE_CORE.format(module="planner.cli", forbidden=FORBIDDEN))
    stdout, _ = process.communicate(timeout=120)

    assert "click" in json.loads(stdout)


"""Module boundaries: every module imports alone, the core stays free of the shell.

Each check runs in a fresh interpreter, so a module that only imports because
an earlier test imported something else first is caught (import cycles,
missing imports), and ``sys.modules`` shows exactly what importing pulled in.
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
CORE = ["planner.core.yamlsource", "planner.model.configuration", "planner.model.settings", "planner.core.validation"]
CORE += ["planner.core.diff", "planner.model.safety", "planner.core.tfjson", "planner.model.plan", "planner.core.drift", "planner.render", "planner.render.records", "planner.render.errors"]
CORE += ["planner.core.planning", "planner.core.yamlexplain", "planner.adapters.yamlfmt", "planner.render.drift", "planner.render.charset"]
FORBIDDEN = ["click", "requests", "urllib3", "planner.sandbox", "planner.cli", "planner.adapters.gateway"]


def all_modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def run_python(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    modules = all_modules()
    assert "planner.cli" in modules and "planner.core.validation" in modules
    # started together, waited for together: 2 cores, not one interpreter start-up after another
    processes = {name: run_python(f"import importlib; importlib.import_module({name!r})") for name in modules}
    failures = {}
    for name, process in processes.items():
        _, stderr = process.communicate(timeout=120)
        if process.returncode != 0:
            failures[name] = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {process.returncode}"

    assert failures == {}


USE_THE_CORE = """
import json, sys
from pathlib import Path
import importlib
module = importlib.import_module({module!r})
if {module!r} in ("planner.model.settings", "planner.core.validation"):
    # exercise it too: lazy imports inside functions count
    from planner.adapters.project import read_environment
    from planner.core.validation import check_environment
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


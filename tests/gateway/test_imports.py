"""Each gateway module imports alone (no cycles), and resolving an address stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

MODULES = ["endpoints", "retry", "pacing", "breaker", "auth", "failures", "guard", "wire", "watch", "outcomes", "paging", "transport", "client"]


@pytest.mark.parametrize("module", MODULES)
def test_the_module_imports_alone(module: str) -> None:
    result = subprocess.run([sys.executable, "-c", f"import planner.adapters.gateway.{module}"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_resolving_an_endpoint_does_not_import_requests() -> None:
    code = "import sys, planner.adapters.gateway.endpoints; print('requests' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"

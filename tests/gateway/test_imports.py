"""Resolving a gateway address stays light: validate checks it offline without loading the HTTP client."""

from __future__ import annotations

import subprocess
import sys


def test_resolving_an_endpoint_does_not_import_requests() -> None:
    code = "import sys, planner.adapters.gateway.endpoints; print('requests' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"

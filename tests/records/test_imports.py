"""The PostgreSQL backend is an extra: local records never load its driver."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCAL_RECORDS_ONLY = """
import sys, tempfile
from pathlib import Path
from planner.model.settings import StateSettings
from planner.adapters.records import open_records
records = open_records("dev", Path(tempfile.mkdtemp()), StateSettings())
records.state.read(); records.audit.verify(); records.close()
print(",".join(sorted(name for name in sys.modules if name.split(".")[0] == "psycopg")))
"""


def test_psycopg_is_imported_only_by_environments_that_use_postgres() -> None:
    """The PostgreSQL backend is an extra: an environment on local files never loads it (start-up stays as it was)."""
    result = subprocess.run([sys.executable, "-c", LOCAL_RECORDS_ONLY], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""

"""Helpers of the adoption tests: the repository, git, a clean environment for children that install."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=llmplan tests", "-c", "user.email=tests@example.com", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


@dataclass(frozen=True)
class Snapshot:
    """llmplan as one commit of a repository of its own (see conftest.py)."""

    path: Path
    commit: str


def clean_environ(**extra: str) -> dict[str, str]:
    """This machine's environment for a child that installs from PyPI (proxies,
    pip's settings kept), without this test run's virtual environment, llmplan's
    or the gateway's variables, or anything of Git's that points elsewhere."""
    dropped = ("LLMPLAN_", "GENESYSCLOUD_", "GIT_", "PRE_COMMIT")
    environ = {key: value for key, value in os.environ.items() if not key.startswith(dropped) and key not in ("VIRTUAL_ENV", "PYTHONPATH", "NO_COLOR")}
    environ["PATH"] = f"/usr/local/bin{os.pathsep}/usr/bin{os.pathsep}/bin"
    environ.update(extra)
    return environ

"""A project of several environments, each on a gateway of its own (a real sandbox over HTTP on 127.0.0.1),
and a real Git repository around it: what the multi-environment commands (issue 26) run against.

``Fleet(root, {"dev": url, ...})`` writes ``environments/<env>/`` for each
(three models, as ``tests/plan/e2e_project.py`` writes them); ``fleet.run``
drives the CLI in this process as ``Project.run`` does; ``git(...)`` runs
Git in the project folder with a fixed identity and no user configuration.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Mapping

from tests.plan.e2e_project import THREE_MODELS, Admin, Project, Run

# Nothing listens on port 1 of the loopback: a connection there is refused at once.
REFUSED_URL = "http://127.0.0.1:1"


class Fleet:
    """``environments/<env>/`` for each environment named, each pointed at its own gateway."""

    def __init__(self, root: Path, gateways: Mapping[str, str]) -> None:
        self.root = root
        self.projects = {env: Project(root, url, env=env) for env, url in gateways.items()}
        for project in self.projects.values():
            project.write_models(THREE_MODELS)

    def __getitem__(self, env: str) -> Project:
        return self.projects[env]

    def admin(self, env: str) -> Admin:
        return Admin(self.projects[env].gateway_url)

    def run(self, *args: str, env: Mapping[str, str | None] | None = None, root: bool = True) -> Run:
        """``llmplan ARGS`` (with ``--root`` unless ``root`` is False) in this process."""
        return next(iter(self.projects.values())).run(*args, env=env, root=root)

    def apply_all(self) -> None:
        for project in self.projects.values():
            project.apply()


def git(root: Path, *args: str) -> str:
    """``git ARGS`` in ``root``: no global or system configuration, a fixed author, the output."""
    environ = {
        **{key: value for key, value in os.environ.items() if not key.startswith("GIT_")},
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    done = subprocess.run(["git", *args], cwd=root, env=environ, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def git_repository(root: Path) -> str:
    """``root`` made a Git repository on branch main, everything in it committed (``state/`` ignored); the commit."""
    git(root, "init", "--quiet", "--initial-branch", "main")
    (root / ".gitignore").write_text("state/\n", encoding="utf-8")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--message", "the environments")
    return git(root, "rev-parse", "HEAD")

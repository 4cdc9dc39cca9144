"""What a team's configuration repository adopts, tried as it adopts it.

``snapshot``: llmplan as a Git repository of its own, one commit of the
files Git tracks here with their content in the working tree, made once per
session: what `uses: your-org/llmplan@<sha>` downloads and what pre-commit
clones at a `rev`, uncommitted edits included, so the tests try the code
under review.

``config_repo``: a configuration repository, as a team keeps one: a Git
repository holding a copy of the example environments and nothing else.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.adoption.adoption_helpers import REPO, Snapshot, git


@pytest.fixture(scope="session")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    if not (REPO / ".git").exists():
        pytest.fail(f"{REPO} is not a Git checkout: the adoption tests need the files Git tracks")
    target = tmp_path_factory.mktemp("llmplan-snapshot")
    for name in git("ls-files", "-z", cwd=REPO).split("\0"):
        source = REPO / name
        if name and source.is_file():  # a tracked file deleted in the working tree is left out, as a commit would
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    git("init", "--quiet", cwd=target)
    git("add", "--all", cwd=target)
    git("commit", "--quiet", "--no-verify", "-m", "llmplan under test", cwd=target)
    return Snapshot(target, git("rev-parse", "HEAD", cwd=target).strip())


@pytest.fixture
def config_repo(tmp_path: Path) -> Path:
    root = tmp_path / "llm-config"
    shutil.copytree(REPO / "environments", root / "environments")
    git("init", "--quiet", cwd=root)
    git("add", "--all", cwd=root)
    git("commit", "--quiet", "--no-verify", "-m", "our environments", cwd=root)
    return root

"""What Git knows about the project's checkout: the files changed since a ref, the commit checked out,
and whether a commit is in the checkout's history.

Asked through the ``git`` command (as a person would ask it), with a deadline,
never through a shell. ``--changed-from`` needs Git and says so when it is
missing; the other questions are optional: without Git, or outside a
repository, they answer None and the caller stays silent.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

from planner.model.errors import ConfigurationError
from planner.model.settings import ENVIRONMENTS_DIR

GIT_TIMEOUT_SECONDS = 30.0
_COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")  # SHA-1, or SHA-256 in a repository that uses it


class GitError(ConfigurationError):
    """Git could not answer a question llmplan needed answered (``--changed-from``)."""


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    """``git -C ROOT ARGS``, its output as text; None when git is not installed."""
    git = shutil.which("git")
    if git is None:
        return None
    environ = {**os.environ, "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}
    try:
        return subprocess.run(
            [git, "-C", str(root), *args],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
            env=environ,
            stdin=subprocess.DEVNULL,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def checkout_commit(root: Path) -> str | None:
    """The commit checked out in the repository holding ``root`` (its HEAD), or None
    without Git, outside a repository or before its first commit."""
    done = _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if done is None or done.returncode != 0:
        return None
    commit = done.stdout.strip()
    return commit if _COMMIT.match(commit) else None


def contains(root: Path, commit: str) -> bool | None:
    """Whether the checkout's history holds ``commit`` (it is HEAD or an ancestor of it).

    False also when the repository does not have the commit at all (made in
    another clone and not fetched yet); None when Git cannot tell (no Git,
    not a repository, no commit checked out, a malformed commit)."""
    if not _COMMIT.match(commit) or checkout_commit(root) is None:
        return None
    known = _git(root, "cat-file", "-e", f"{commit}^{{commit}}")
    if known is None:
        return None
    if known.returncode != 0:
        return False
    done = _git(root, "merge-base", "--is-ancestor", commit, "HEAD")
    if done is None or done.returncode not in (0, 1):
        return None
    return done.returncode == 0


def changed_environment_files(root: Path, ref: str) -> list[Path]:
    """The files under ``root/environments/`` that differ from ``ref``, as a pull request shows them:
    committed since the merge base of ``ref`` and HEAD (``git diff REF...``), plus uncommitted
    and untracked ones (ignored files left out). Paths are relative to ``root``; a renamed file
    counts at both its old and its new place."""
    if not ref.strip() or ref.startswith("-"):
        raise GitError(f"--changed-from {ref!r} is not a Git ref", hint="give a commit, branch or tag, e.g. --changed-from origin/main")
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None:
        raise GitError("--changed-from needs Git, and the git command is not installed", hint="install Git, or name the environments with --env")
    if top.returncode != 0:
        raise GitError(
            f"--changed-from needs a Git repository, and {root.resolve()} is not in one",
            hint="run llmplan in a clone of the configuration repository, or name the environments with --env",
        )
    base = _base(root, ref)
    pathspec = ["--", ENVIRONMENTS_DIR]
    changed = _lines(root, "diff", "--name-only", "-z", "--no-renames", "--relative", base, *pathspec)
    untracked = _lines(root, "ls-files", "-z", "--others", "--exclude-standard", *pathspec)
    return [Path(name) for name in dict.fromkeys([*changed, *untracked])]


def changed_environments(root: Path, ref: str, available: Sequence[str]) -> list[str]:
    """The environments of ``available`` (in that order) with a file that differs from ``ref``.
    An environment removed since ``ref`` is not among them: there is nothing left to plan."""
    touched = {path.parts[1] for path in changed_environment_files(root, ref) if len(path.parts) > 2 and path.parts[0] == ENVIRONMENTS_DIR}
    return [name for name in available if name in touched]


def _base(root: Path, ref: str) -> str:
    """The merge base of ``ref`` and HEAD: what a pull request is compared with."""
    known = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if known is None or known.returncode != 0:
        raise GitError(
            f"--changed-from {ref}: no such commit, branch or tag in the repository at {root.resolve()}",
            hint="fetch it first (git fetch origin; in GitHub Actions, actions/checkout with fetch-depth: 0), or check its spelling",
        )
    commit = known.stdout.strip()
    if checkout_commit(root) is None:
        return commit  # a repository without a commit yet: everything is new
    base = _git(root, "merge-base", commit, "HEAD")
    if base is None or base.returncode != 0 or not base.stdout.strip():
        raise GitError(
            f"--changed-from {ref}: it shares no history with the commit checked out",
            hint="fetch the whole history (actions/checkout with fetch-depth: 0), or compare with another ref",
        )
    return base.stdout.strip()


def _lines(root: Path, *args: str) -> list[str]:
    done = _git(root, *args)
    if done is None or done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no answer"])[-1] if done is not None else "git did not answer"
        raise GitError(f"git {args[0]} failed in {root.resolve()}: {reason}")
    return [name for name in done.stdout.split("\0") if name]

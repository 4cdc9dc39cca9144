"""Who is running llmplan, as locks and the audit trail name them.

Reads the process's user, host and CI variables: the only facts about the
running machine that records carry.
"""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from typing import Mapping

from planner.model.state import LockInfo

# CI systems' variables naming the person who started the run, most common first
CI_ACTORS = ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_REQUESTEDFOR", "BUILDKITE_BUILD_CREATOR", "CIRCLE_USERNAME", "BUILD_USER_ID")


def ci_run_id(environ: Mapping[str, str]) -> str | None:
    """The CI job this process runs in, as a person would look it up, or None outside CI."""
    if environ.get("GITHUB_RUN_ID"):
        server = environ.get("GITHUB_SERVER_URL", "https://github.com")
        repository = environ.get("GITHUB_REPOSITORY", "")
        attempt = environ.get("GITHUB_RUN_ATTEMPT")
        run = f"{server}/{repository}/actions/runs/{environ['GITHUB_RUN_ID']}" if repository else f"GitHub run {environ['GITHUB_RUN_ID']}"
        return f"{run} (attempt {attempt})" if attempt and attempt != "1" else run
    if environ.get("CI_JOB_URL"):  # GitLab
        return environ["CI_JOB_URL"]
    if environ.get("BUILD_URL"):  # Jenkins
        return environ["BUILD_URL"]
    return None



def user_at_host() -> str:
    """This process's user and machine, as a person reads them: ``ci@runner-7``."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"



def new_lock_info(operation: str, *, where: str, now: str, environ: Mapping[str, str] | None = None) -> LockInfo:
    """A fresh description of this process as a lock holder."""
    host = socket.gethostname()
    return LockInfo(
        id=str(uuid.uuid4()),
        operation=operation,
        who=user_at_host(),
        pid=os.getpid(),
        created=now,
        where=where,
        host=host,
        ci_run=ci_run_id(os.environ if environ is None else environ),
    )


def actor(environ: Mapping[str, str]) -> str:
    """Who is running: the CI system's actor when there is one, else the local user."""
    for variable in CI_ACTORS:
        if environ.get(variable):
            return f"{environ[variable]} ({variable})"
    return f"{user_at_host()} (local user)"

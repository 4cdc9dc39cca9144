"""``llmplan sandbox serve`` as a child process, for the tests that drive it
as a user does (test_cli.py, test_unknown_outcomes.py)."""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import sys
from typing import Iterator

import requests

START_DEADLINE = 30.0


def first_line(process: subprocess.Popen[str], deadline: float) -> str:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    if not selector.select(timeout=deadline):
        raise AssertionError("the sandbox printed nothing in time")
    return process.stdout.readline()


@contextlib.contextmanager
def serving(*arguments: str, env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "planner", "sandbox", "serve", "--port", "0", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        line = first_line(process, START_DEADLINE)
        assert line.startswith("listening on http://127.0.0.1:"), line + (process.stderr.read() if process.poll() is not None else "")  # type: ignore[union-attr]
        yield process, line.split()[-1]
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def token(url: str, client: tuple[str, str] = ("sandbox", "sandbox-secret")) -> requests.Response:
    return requests.post(f"{url}/oauth/token", data={"grant_type": "client_credentials"}, auth=client, timeout=5)

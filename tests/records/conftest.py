"""Fixtures of the record-keeping tests: resources to record, a fake clock, child processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from planner.model.state import ResourceState
from tests.records.records_helpers import make_resource, update_fields  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


class Child:
    """A Python child process that speaks in lines on stdout and waits for lines on stdin."""

    def __init__(self, code: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )

    def line(self) -> str:
        assert self.process.stdout is not None
        text = self.process.stdout.readline()
        if not text:
            assert self.process.stderr is not None
            raise AssertionError(f"child exited early: {self.process.wait()} {self.process.stderr.read()}")
        return text.strip()

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def kill(self) -> None:
        self.process.kill()  # SIGKILL
        self.process.wait(timeout=10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def spawn() -> Iterator[Callable[..., Child]]:
    """Start a child process; every child is killed at the end of the test whatever happens."""
    started: list[Child] = []

    def start(code: str, *args: str, env: dict[str, str] | None = None) -> Child:
        child = Child(code, *args, env=env)
        started.append(child)
        return child

    yield start
    for child in started:
        child.close()


@pytest.fixture(name="resource")
def resource_factory() -> Callable[..., ResourceState]:
    return make_resource


@pytest.fixture(name="fields")
def fields_factory() -> Callable[..., dict[str, Any]]:
    return update_fields



"""Fixtures of the record-keeping tests: resources to record, a fake clock, child processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from planner.records.model import ResourceState

REPO = Path(__file__).resolve().parents[2]
MODEL_IDS = [f"a1b2c3d4-e5f6-7890-abcd-{index:012x}" for index in range(1, 2001)]


def make_resource(index: int, *, version: int = 1, max_tokens: int = 2048, address: str | None = None) -> ResourceState:
    model_id = MODEL_IDS[index]
    return ResourceState(
        address=address or f"model-{index:04d}",
        model_id=model_id,
        configuration={
            "model_id": model_id,
            "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.3},
            "safety_filters": [{"filter_type": "pii", "action": "redact", "threshold": 85}],
            "max_tokens": max_tokens,
            "compliance_mode": "strict",
        },
        version=version,
        payload_hash="ab" * 32,
        applied_at="2026-11-25T10:00:00.000Z",
        capabilities={"max_context_window": 4096, "restricted_safety_filters": ["political"]},
    )


def update_fields(index: int, *, status: str = "success", **extra: Any) -> dict[str, Any]:
    """The fields apply passes to an audit store's append for one model."""
    fields: dict[str, Any] = {
        "model_id": MODEL_IDS[index],
        "address": f"model-{index:04d}",
        "environment": "dev",
        "action": "configuration_update",
        "status": status,
        "latency_ms": 12.5,
        "payload_hash": "ab" * 32,
        "compliance_mode": "strict",
        "plan_checksum": None,
    }
    if status == "failure":
        fields.update(error_code="bad.request", error_message="max_tokens 9000 exceeds model capability limit of 4096")
    fields.update(extra)
    return fields


class Child:
    """A Python child process that speaks in lines on stdout and waits for lines on stdin."""

    def __init__(self, code: str, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
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

    def start(code: str, *args: str) -> Child:
        child = Child(code, *args)
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



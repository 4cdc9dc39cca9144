"""Helpers of the apply tests: a project wired to a real sandbox, apply in a
child process, and the sandbox's admin endpoints for faults and webhooks.

Builds on ``tests/plan/e2e_project.py`` (``Project``, ``Admin``, ``Run``),
adding what apply needs: a governance webhook in ``environment.yaml``,
generated models (``planner.model.catalog.generated_models``), ``apply`` as a
child process whose progress lines can be waited for (to kill or interrupt
it at a chosen moment), and readers of the records apply leaves in
``state/<env>/``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import requests

from planner.model.catalog import generated_model_id  # noqa: E402
from tests.plan.e2e_project import CREDENTIALS, Admin, Project, Run, model_config  # noqa: E402,F401

WEBHOOK_SECRET_ENV = "LLMPLAN_TEST_WEBHOOK_SECRET"
# The Standard Webhooks form (whsec_ + base64 of the key), as docs/audit.md recommends;
# the sandbox receiver of the apply tests verifies with it (conftest.py).
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"webhook-signing-secret-for-tests").decode()
# Every answer of the sandbox is recorded under these paths.
CONFIG_PATH = "/api/v2/ai/models/{}/configuration"


def model_yaml(model_id: str, *, max_tokens: int = 1024, default: float = 0.5, compliance_mode: str = "standard") -> str:
    """One model file; temperatures that are not whole numbers, so the payload is what is written."""
    return (
        f"model_id: {model_id}\n"
        f"temperature_matrix: {{default: {default}, creative: 0.9, precise: 0.1}}\n"
        "safety_filters:\n"
        "  - {filter_type: pii, action: redact, threshold: 80}\n"
        "  - {filter_type: profanity, action: flag, threshold: 60}\n"
        f"max_tokens: {max_tokens}\n"
        f"compliance_mode: {compliance_mode}\n"
    )


def expected_payload(model_id: str, *, max_tokens: int = 1024, default: float = 0.5, compliance_mode: str = "standard") -> dict[str, Any]:
    """The PUT body ``model_yaml`` stands for, written out by hand."""
    return {
        "model_id": model_id,
        "temperature_matrix": {"default": default, "creative": 0.9, "precise": 0.1},
        "safety_filters": [
            {"filter_type": "pii", "action": "redact", "threshold": 80},
            {"filter_type": "profanity", "action": "flag", "threshold": 60},
        ],
        "max_tokens": max_tokens,
        "compliance_mode": compliance_mode,
    }


def sha256_of_canonical(payload: Mapping[str, Any]) -> str:
    """sha256 of sorted-key, no-space JSON: the documented ``payload_hash``."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def address(index: int) -> str:
    return f"bench-{index:05d}"


class ApplyProject(Project):
    """A project with optional governance, and generated models (``bench-00001`` …)."""

    def __init__(self, root: Path, gateway_url: str, env: str = "dev", *, webhook_url: str | None = None, signed: bool = True) -> None:
        self.webhook_url = webhook_url
        self.signed = signed
        super().__init__(root, gateway_url, env)

    def write_environment(self, *, max_change_percent: float = 100, gateway: str | None = None, parallelism: int = 4) -> None:
        gateway = gateway or f"base_url: {self.gateway_url}"
        text = f"gateway:\n  {gateway}\napply:\n  parallelism: {parallelism}\n  max_change_percent: {max_change_percent:g}\n"
        if self.webhook_url is not None:
            text += f"governance:\n  webhook_url: {self.webhook_url}\n  timeout_seconds: 5\n"
            if self.signed:
                text += f"  secret_env: {WEBHOOK_SECRET_ENV}\n"
        (self.env_dir / "environment.yaml").write_text(text, encoding="utf-8")

    def environ(self, extra: Mapping[str, str | None] | None = None) -> dict[str, str | None]:
        return super().environ({WEBHOOK_SECRET_ENV: WEBHOOK_SECRET, **(extra or {})})

    def add_generated(self, count: int, *, start: int = 1, **fields: Any) -> dict[str, str]:
        """Model files for generated models ``start`` … ``start + count - 1``; address → model id."""
        written = {}
        for index in range(start, start + count):
            model_id = generated_model_id(index)
            self.write_model(address(index), model_yaml(model_id, **fields))
            written[address(index)] = model_id
        return written

    # --- records --------------------------------------------------------------

    def state_document(self) -> dict[str, Any] | None:
        path = self.state_dir / "state.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def journal(self) -> list[dict[str, Any]]:
        path = self.state_dir / "journal.jsonl"
        if not path.exists():
            return []
        lines = path.read_bytes().split(b"\n")
        return [json.loads(line) for line in lines if line.strip() and line.endswith(b"}")]

    def recorded_versions(self) -> dict[str, int]:
        """address → version, as `state show --format json` reports it (state.json with the journal folded in)."""
        done = self.run("state", "show", "--env", self.env, "--format", "json")
        assert done.code == 0, str(done)
        document = json.loads(done.stdout)["state"] or {"resources": {}}
        return {name: resource["version"] for name, resource in document["resources"].items()}

    def audit_lines(self) -> list[bytes]:
        path = self.state_dir / "audit.jsonl"
        return path.read_bytes().splitlines(keepends=True) if path.exists() else []

    # --- apply in a child process ------------------------------------------------

    def start(self, *args: str, env: Mapping[str, str | None] | None = None, terminal: bool = False) -> "Child":
        """``python -m planner ARGS --root ROOT`` running in the background; stdin is
        /dev/null, or with ``terminal`` a pseudo-terminal the test types into."""
        return Child([sys.executable, "-m", "planner", *args, "--root", str(self.root)], self.child_environ(env), terminal=terminal)


def _default_sigint() -> None:
    # A child of a non-interactive shell may inherit SIGINT ignored; a user's terminal never does.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Child:
    """A running llmplan whose output is read on threads as it comes, so a test
    can wait for the n-th progress line (each printed once an outcome is
    recorded) or for a prompt, and act at that moment."""

    def __init__(self, argv: Sequence[str], environ: Mapping[str, str], *, terminal: bool = False) -> None:
        self._controller: int | None = None
        stdin: Any = subprocess.DEVNULL
        if terminal:
            self._controller, stdin = pty.openpty()
        try:
            self.process = subprocess.Popen(
                list(argv), env=dict(environ), stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_default_sigint
            )
        finally:
            if terminal:
                os.close(stdin)
        self.pid = self.process.pid
        self._changed = threading.Condition()
        self._output = {"stdout": b"", "stderr": b""}
        self._open = 2
        self._readers = [
            threading.Thread(target=self._read, args=("stdout", self.process.stdout), daemon=True),
            threading.Thread(target=self._read, args=("stderr", self.process.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, name: str, stream: Any) -> None:
        while True:
            chunk = os.read(stream.fileno(), 65536)
            with self._changed:
                if not chunk:
                    self._open -= 1
                else:
                    self._output[name] += chunk
                self._changed.notify_all()
            if not chunk:
                return

    def text(self, name: str) -> str:
        with self._changed:
            return self._output[name].decode("utf-8", "replace")

    def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{what} within {timeout} s; stdout:\n{self._output['stdout'].decode()}\nstderr:\n{self._output['stderr'].decode()}")
                if self._open == 0:
                    return
                self._changed.wait(remaining)

    def progress(self) -> int:
        """Outcome lines (success/failure) printed so far."""
        return sum(1 for line in self.text("stderr").splitlines() if line.lstrip().startswith(("success ", "failure ")))

    def wait_for_progress(self, count: int, *, timeout: float = 30.0) -> int:
        """Block until ``count`` outcome lines were printed; returns how many were seen
        (fewer only if the process ended first)."""
        self._wait(lambda: self._count_locked() >= count, timeout, f"no {count} progress lines")
        return self.progress()

    def _count_locked(self) -> int:
        text = self._output["stderr"].decode("utf-8", "replace")
        return sum(1 for line in text.splitlines() if line.lstrip().startswith(("success ", "failure ")))

    def wait_for_output(self, text: str, *, timeout: float = 30.0) -> None:
        """Block until stdout contains ``text`` (a prompt, a heading)."""
        wanted = text.encode()
        self._wait(lambda: wanted in self._output["stdout"], timeout, f"no {text!r} on stdout")
        assert wanted in self._output["stdout"], f"the process ended without printing {text!r}\n{self.text('stdout')}{self.text('stderr')}"

    def wait_for_stderr(self, text: str, *, timeout: float = 30.0) -> None:
        """Block until stderr contains ``text`` (a waiting line, a note)."""
        wanted = text.encode()
        self._wait(lambda: wanted in self._output["stderr"], timeout, f"no {text!r} on stderr")
        assert wanted in self._output["stderr"], f"the process ended without printing {text!r}\n{self.text('stdout')}{self.text('stderr')}"

    def type(self, line: str) -> None:
        """Type a line on the child's terminal."""
        assert self._controller is not None, "start the child with terminal=True"
        os.write(self._controller, line.encode() + b"\n")

    def finish(self, timeout: float = 60.0) -> Run:
        code = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=timeout)
        if self._controller is not None:
            os.close(self._controller)
            self._controller = None
        return Run(code, self.text("stdout"), self.text("stderr"))

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.process.send_signal(sig)

    def signal_and_finish(self, sig: int, *, timeout: float = 60.0) -> tuple[Run, float]:
        """Send ``sig`` and wait for the end: the run, and the seconds from the signal to the exit."""
        signalled = time.monotonic()
        self.kill(sig)
        done = self.finish(timeout=timeout)
        return done, time.monotonic() - signalled


class SandboxAdmin(Admin):
    """Admin endpoints used by apply tests: faults, the webhook receiver, PUT counts."""

    def faults(self, **settings: Any) -> None:
        answer = requests.post(f"{self.url}/__sandbox/faults", json=settings, timeout=10)
        assert answer.status_code == 200, answer.text

    def clear_faults(self) -> None:
        requests.delete(f"{self.url}/__sandbox/faults", timeout=10).raise_for_status()

    def fail_puts(self, model_id: str, status: int, *, count: int | None = None, retry_after: float | None = None) -> dict[str, Any]:
        """A fault rule for PUTs of one model's configuration."""
        rule: dict[str, Any] = {"match": {"method": "PUT", "path": CONFIG_PATH.format(model_id)}, "effect": "status", "status": status}
        if count is not None:
            rule["count"] = count
        if retry_after is not None:
            rule["retry_after"] = retry_after
        return rule

    def deliveries(self) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.url}/__sandbox/webhook", timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()["deliveries"]

    @staticmethod
    def verified_event(delivery: Mapping[str, Any]) -> dict[str, Any]:
        """The event of a delivery once the reference library ``standardwebhooks`` verified it
        (raises if not), after checking the receiver's own verdict agrees."""
        from standardwebhooks import Webhook

        assert (delivery["verified"], delivery["verification_error"]) == (True, None)
        return Webhook(WEBHOOK_SECRET).verify(delivery["raw"].encode("utf-8"), dict(delivery["headers"]))

    def puts(self, *, status: int | None = None) -> list[dict[str, Any]]:
        """PUT requests to configurations in the request log, optionally with one status."""
        return [
            entry
            for entry in self.requests()
            if entry["method"] == "PUT" and entry["path"].endswith("/configuration") and (status is None or entry["status"] == status)
        ]

    @staticmethod
    def model_of(entry: Mapping[str, Any]) -> str:
        return entry["path"].split("/")[-2]

    def live(self) -> dict[str, dict[str, Any] | None]:
        """Every model's live configuration (None if never configured), by lower-case id, in one paged read."""
        token = requests.post(f"{self.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=("sandbox", "sandbox-secret"), timeout=10).json()["access_token"]
        result: dict[str, dict[str, Any] | None] = {}
        page = 1
        while True:
            answer = requests.get(
                f"{self.url}/api/v2/ai/models",
                params={"pageSize": 100, "pageNumber": page, "expand": "configuration"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
            body = answer.json()
            for entity in body["entities"]:
                result[entity["id"].lower()] = entity.get("configuration")
            if "nextUri" not in body:
                return result
            page += 1

    def live_versions(self, model_ids: Sequence[str]) -> dict[str, int | None]:
        live = self.live()
        return {model_id: (live[model_id] or {}).get("version") for model_id in model_ids}

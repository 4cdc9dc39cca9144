"""A throw-away llmplan project wired to a real sandbox, and the CLI driven as
a user drives it; shared by tests/plan and tests/drift.

``Project`` writes ``environments/dev/`` under a temporary folder with
``gateway: {base_url: <sandbox url>}``; ``project.run(...)`` goes through
``planner.cli.main`` (where errors become exit codes) with the sandbox's
credentials in the process environment; ``project.subprocess(...)`` runs
``python -m planner`` where real streams and exit codes matter.
``Admin`` talks to the sandbox's ``/__sandbox/`` endpoints: out-of-band
edits, hand-configured models, the request log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import requests
from click.testing import CliRunner

from planner.cli import main

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"  # max_context_window 4096, political restricted
SUMMARIZER = "b2c3d4e5-f6a7-4890-9bcd-ef1234567891"
ROUTER = "c3d4e5f6-a7b8-4901-8cde-f12345678902"
AGENT_ASSIST = "d4e5f6a7-b8c9-4012-9def-123456789013"
TRANSLATOR = "e5f6a7b8-c9d0-4123-8ef0-234567890124"
QUALITY = "f6a7b8c9-d0e1-4234-9f01-345678901235"

# The client paces itself to the rate budget the gateway announces. These tests
# are about plans, not pacing (tests/gateway covers that), so their sandboxes
# grant a budget no command here comes near, keeping them fast whatever the pacer does.
RATE_LIMIT = 30_000

CREDENTIALS = {"GENESYSCLOUD_OAUTHCLIENT_ID": "sandbox", "GENESYSCLOUD_OAUTHCLIENT_SECRET": "sandbox-secret"}
HEADER = "# yaml-language-server: $schema=../../../schemas/model-configuration.schema.json\n"

SUPPORT_BOT = f"""{HEADER}model_id: {SUPPORT}
temperature_matrix: {{default: 0.7, creative: 1.2, precise: 0.3}}
safety_filters:
  - {{filter_type: pii, action: redact, threshold: 85}}
  - {{filter_type: self_harm, action: block, threshold: 10}}
max_tokens: 2048
compliance_mode: strict
"""

SUMMARIZER_YAML = f"""{HEADER}model_id: {SUMMARIZER}
temperature_matrix: {{default: 0.4, creative: 0.9, precise: 0.1}}
safety_filters:
  - {{filter_type: pii, action: redact, threshold: 80}}
max_tokens: 4096
"""

ROUTER_YAML = f"""{HEADER}model_id: {ROUTER}
temperature_matrix: {{default: 0.2, creative: 0.5, precise: 0.0}}
safety_filters:
  - {{filter_type: profanity, action: flag, threshold: 70}}
  - {{filter_type: pii, action: redact, threshold: 90}}
max_tokens: 512
"""

THREE_MODELS = {"support-bot": SUPPORT_BOT, "summarizer": SUMMARIZER_YAML, "intent-router": ROUTER_YAML}


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    def __str__(self) -> str:  # what pytest shows when an assertion about a run fails
        return f"exit {self.code}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


def model_config(model_id: str, **changes: Any) -> dict[str, Any]:
    """A valid configuration body for the sandbox's admin endpoints."""
    body: dict[str, Any] = {
        "model_id": model_id,
        "temperature_matrix": {"default": 0.5, "creative": 1.0, "precise": 0.2},
        "safety_filters": [{"filter_type": "pii", "action": "redact", "threshold": 70}],
        "max_tokens": 1024,
        "compliance_mode": "standard",
    }
    body.update(changes)
    return body


class Admin:
    """The sandbox's test-only endpoints."""

    def __init__(self, url: str) -> None:
        self.url = url

    def patch(self, model_id: str, **fields: Any) -> dict[str, Any]:
        """An out-of-band edit, as someone in the console would make it."""
        answer = requests.patch(f"{self.url}/__sandbox/models/{model_id}/configuration", json=fields, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def add_models(self, *models: Mapping[str, Any]) -> None:
        answer = requests.post(f"{self.url}/__sandbox/models", json={"models": list(models)}, timeout=10)
        assert answer.status_code == 200, answer.text

    def requests(self) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.url}/__sandbox/requests", timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()["requests"]

    def clear_requests(self) -> None:
        requests.delete(f"{self.url}/__sandbox/requests", timeout=10).raise_for_status()

    def configuration(self, model_id: str) -> dict[str, Any] | None:
        """The live configuration, read the way llmplan reads it (with a token)."""
        token = requests.post(f"{self.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=("sandbox", "sandbox-secret"), timeout=10).json()["access_token"]
        answer = requests.get(f"{self.url}/api/v2/ai/models/{model_id}/configuration", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        return None if answer.status_code == 404 else answer.json()


def count(log: Sequence[Mapping[str, Any]], method: str, path_prefix: str, *, exact: bool = False) -> int:
    return sum(1 for entry in log if entry["method"] == method and (entry["path"] == path_prefix if exact else entry["path"].startswith(path_prefix)))


class Project:
    """environments/<env>/ in a temporary folder, pointed at a gateway URL."""

    def __init__(self, root: Path, gateway_url: str, env: str = "dev") -> None:
        self.root = root
        self.env = env
        self.gateway_url = gateway_url
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self.write_environment()

    @property
    def env_dir(self) -> Path:
        return self.root / "environments" / self.env

    @property
    def models_dir(self) -> Path:
        return self.env_dir / "models"

    @property
    def state_dir(self) -> Path:
        return self.root / "state" / self.env

    def write_environment(self, *, max_change_percent: float = 100, gateway: str | None = None) -> None:
        gateway = gateway or f"base_url: {self.gateway_url}"
        (self.env_dir / "environment.yaml").write_text(
            f"gateway:\n  {gateway}\napply:\n  parallelism: 4\n  max_change_percent: {max_change_percent:g}\n", encoding="utf-8"
        )

    def write_model(self, address: str, text: str) -> Path:
        path = self.models_dir / f"{address}.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    def write_models(self, models: Mapping[str, str]) -> None:
        for address, text in models.items():
            self.write_model(address, text)

    def edit_model(self, address: str, old: str, new: str) -> None:
        path = self.models_dir / f"{address}.yaml"
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {path}"
        path.write_text(text.replace(old, new), encoding="utf-8")

    def environ(self, extra: Mapping[str, str | None] | None = None) -> dict[str, str | None]:
        return {"LLMPLAN_ROOT": None, "LLMPLAN_DEBUG": None, "LLMPLAN_GATEWAY_URL": None, "NO_COLOR": None, **CREDENTIALS, **(extra or {})}

    def run(self, *args: str, env: Mapping[str, str | None] | None = None, root: bool = True) -> Run:
        """``llmplan ARGS --root ROOT`` in this process, through ``planner.cli.main``."""
        argv = [*args, "--root", str(self.root)] if root else list(args)
        runner = CliRunner()
        with runner.isolation(env=self.environ(env)) as (out, err, _mixed):
            try:
                main(argv)
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
            else:  # pragma: no cover - main always exits
                code = 0
            sys.stdout.flush()  # renderers write to sys.stdout directly; the runner's wrapper buffers
            sys.stderr.flush()
            return Run(code, out.getvalue().decode("utf-8", "replace"), err.getvalue().decode("utf-8", "replace"))

    def child_environ(self, env: Mapping[str, str | None] | None = None) -> dict[str, str]:
        """The environment of a child ``llmplan``: this machine's, without any
        llmplan or Genesys Cloud variable or NO_COLOR, plus the project's (None removes)."""
        environ = {key: value for key, value in os.environ.items() if not key.startswith(("LLMPLAN_", "GENESYSCLOUD_")) and key != "NO_COLOR"}
        for key, value in self.environ(env).items():
            if value is None:
                environ.pop(key, None)
            else:
                environ[key] = value
        return environ

    def subprocess(self, *args: str, env: Mapping[str, str | None] | None = None, timeout: float = 60, **options: Any) -> Run:
        """``python -m planner ARGS --root ROOT`` as a child process, stdin closed."""
        environ = self.child_environ(env)
        done = subprocess.run(
            [sys.executable, "-m", "planner", *args, "--root", str(self.root)],
            env=environ,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            **options,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    def apply(self) -> Run:
        done = self.run("apply", "--env", self.env, "--auto-approve")
        assert done.code == 0, str(done)
        return done

    def json(self, *args: str) -> tuple[int, dict[str, Any]]:
        done = self.run(*args, "--format", "json")
        assert done.code in (0, 2), str(done)
        return done.code, json.loads(done.stdout)

    def audit(self, *, commits: bool = False) -> list[dict[str, Any]]:
        """The trail's entries about models; with ``commits``, the ``state_commit`` entries
        that vouch for each state too (tests/apply/test_tamper_evident_state.py)."""
        path = self.state_dir / "audit.jsonl"
        entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] if path.exists() else []
        return entries if commits else [entry for entry in entries if entry.get("action") != "state_commit"]

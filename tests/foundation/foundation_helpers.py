"""Helpers of the foundation tests: temp projects, running the CLI, the console script.

Every test builds its own project in ``tmp_path`` (``environments/<env>/``
with ``environment.yaml`` and ``models/``) from hand-written YAML, so what a
test expects is visible next to what it feeds in.  (A plain module, not
conftest.py, so test files can import it by name; conftest.py puts this
folder on ``sys.path``.)
"""

from __future__ import annotations

import os
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import pytest
from click.testing import CliRunner

from planner.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]

# The documented example (design.md, README): valid as written.
VALID_MODEL = textwrap.dedent(
    """\
    model_id: a1b2c3d4-e5f6-7890-abcd-ef1234567890
    temperature_matrix: {default: 0.7, creative: 1.2, precise: 0.3}
    safety_filters:
      - {filter_type: pii, action: redact, threshold: 85}
      - {filter_type: self_harm, action: block, threshold: 10}
    max_tokens: 2048
    compliance_mode: strict
    """
)
SANDBOX_ENVIRONMENT = "gateway: {sandbox: true}\n"


@dataclass
class Project:
    """A throw-away project root with helpers to write an environment."""

    root: Path

    def env_dir(self, env: str = "corpus") -> Path:
        return self.root / "environments" / env

    def write(self, relative: str, text: str | bytes, env: str = "corpus") -> Path:
        path = self.env_dir(env) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def environment(self, env: str = "corpus", settings: str = SANDBOX_ENVIRONMENT, models: Mapping[str, str] | None = None) -> Path:
        """An environment with ``environment.yaml`` and ``models/<address>.yaml``."""
        self.write("environment.yaml", settings, env)
        (self.env_dir(env) / "models").mkdir(parents=True, exist_ok=True)
        for address, text in (models or {}).items():
            self.write(f"models/{address}.yaml", text, env)
        return self.env_dir(env)


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


def run_main(args: Sequence[str], env: Mapping[str, str | None] | None = None) -> Run:
    """Run ``planner.cli.main`` in-process, as the console script does, with
    click's runner capturing the streams.  Unlike ``CliRunner.invoke`` this
    goes through the one place where errors become exit codes."""
    runner = CliRunner()
    environ = {"LLMPLAN_ROOT": None, "LLMPLAN_DEBUG": None, "NO_COLOR": "1", **(env or {})}
    with runner.isolation(env=environ) as (out, err, _mixed):
        try:
            main(list(args))
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        else:  # pragma: no cover - main always exits
            code = 0
        return Run(code, out.getvalue().decode("utf-8", "replace"), err.getvalue().decode("utf-8", "replace"))


def console_script() -> str:
    """The installed ``llmplan`` executable next to the running interpreter."""
    candidate = Path(sys.executable).parent / "llmplan"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    import shutil

    found = shutil.which("llmplan")
    if found is None:
        pytest.fail("the llmplan console script is not installed; run `make test` (pip install -e '.[test]')")
    return found

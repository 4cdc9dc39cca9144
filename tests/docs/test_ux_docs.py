"""The examples the README, docs/state.md and docs/environment.md show for
moves, state list, the legend, unchanged fields and YAML pitfalls are what
llmplan prints: the example environments copied, their gateway the real
sandbox over HTTP (LLMPLAN_GATEWAY_URL), the CLI run as a child process."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from tests.docs.docs_helpers import DOCS, REPO, code_blocks, section

if TYPE_CHECKING:
    from planner.sandbox import RunningSandbox

README = (REPO / "README.md").read_text(encoding="utf-8")
STATE = (DOCS / "state.md").read_text(encoding="utf-8")
ENVIRONMENT = (DOCS / "environment.md").read_text(encoding="utf-8")


def shown(text: str, command: str) -> str:
    """What the first block starting with ``$ COMMAND`` shows under it."""
    for _, body in code_blocks(text):
        if body.startswith(f"$ {command}\n"):
            return body.split("\n", 1)[1]
    raise AssertionError(f"no `$ {command}` block")


class Copy:
    """A copy of one example environment whose gateway is the sandbox."""

    def __init__(self, root: Path, env: str, sandbox: "RunningSandbox") -> None:
        self.root, self.env = root, env
        shutil.copytree(REPO / "environments" / env, root / "environments" / env)
        settings = root / "environments" / env / "environment.yaml"
        text = settings.read_text(encoding="utf-8")  # governance webhooks go to the sandbox's receiver
        settings.write_text(text.replace("https://governance.example.com/hooks/llm", f"{sandbox.url}/__sandbox/webhook"), encoding="utf-8")
        self.environ = {
            "PATH": "/usr/bin:/bin", "NO_COLOR": "1", "LANG": "C.UTF-8", "LLMPLAN_GATEWAY_URL": sandbox.url, "LLMPLAN_GOVERNANCE_SECRET": "docs-secret",
            "GENESYSCLOUD_OAUTHCLIENT_ID": "sandbox", "GENESYSCLOUD_OAUTHCLIENT_SECRET": "sandbox-secret",
        }

    @property
    def models(self) -> Path:
        return self.root / "environments" / self.env / "models"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, timeout=60, env=self.environ, cwd=self.root)


def test_the_readme_plan_with_a_move_is_what_llmplan_prints(tmp_path: Path, make_sandbox: Callable[..., "RunningSandbox"]) -> None:
    dev = Copy(tmp_path, "dev", make_sandbox(rate_limit=30_000))
    assert dev.run("apply", "--env", "dev", "--auto-approve").returncode == 0
    (dev.models / "summarizer.yaml").rename(dev.models / "summ.yaml")
    support = dev.models / "support-bot.yaml"
    support.write_text(support.read_text(encoding="utf-8").replace("max_tokens: 2048", "max_tokens: 1024"), encoding="utf-8")
    planned = dev.run("plan", "--env", "dev")
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout == shown(section(README, "Reading a plan"), "llmplan plan --env dev")


def test_the_state_doc_move_and_state_list_are_what_llmplan_prints(tmp_path: Path, make_sandbox: Callable[..., "RunningSandbox"]) -> None:
    prod = Copy(tmp_path, "prod", make_sandbox(rate_limit=30_000))
    assert prod.run("apply", "--env", "prod", "--auto-approve", "--force").returncode == 0
    (prod.models / "summarizer.yaml").rename(prod.models / "summ.yaml")
    planned = prod.run("plan", "--env", "prod")
    assert planned.stdout == shown(section(STATE, "Moves: renaming a model file"), "llmplan plan --env prod"), planned.stderr
    assert prod.run("apply", "--env", "prod", "--auto-approve").returncode == 0
    listed = prod.run("state", "list", "--env", "prod")
    assert listed.stdout == shown(STATE, "llmplan state list --env prod")


def test_the_yaml_pitfalls_shown_are_what_validate_prints(tmp_path: Path, make_sandbox: Callable[..., "RunningSandbox"]) -> None:
    dev = Copy(tmp_path, "dev", make_sandbox())
    support = (dev.models / "support-bot.yaml").read_text(encoding="utf-8")
    for path in dev.models.iterdir():
        path.unlink()
    # bot.yaml: a tab on line 4; router.yaml: `compliance_mode: yes` on line 9 (as the page shows)
    (dev.models / "bot.yaml").write_text("# yaml-language-server: $schema=../../../schemas/model-configuration.schema.json\nmodel_id: a1b2c3d4-e5f6-7890-abcd-ef1234567890\ntemperature_matrix:\n\tdefault: 0.7\n", encoding="utf-8")
    router = support.replace("a1b2c3d4-e5f6-7890-abcd-ef1234567890", "c3d4e5f6-a7b8-4901-8cde-f12345678902").replace("compliance_mode: strict", "compliance_mode: yes")
    assert router.splitlines()[8] == "compliance_mode: yes"
    (dev.models / "router.yaml").write_text(router.replace("max_tokens: 2048", "max_tokens: 512"), encoding="utf-8")
    done = dev.run("validate", "--env", "dev")
    assert done.returncode == 1
    assert done.stderr == shown(section(ENVIRONMENT, "YAML pitfalls, and `llmplan fmt`"), "llmplan validate --env dev")
    readme_line = [body for _, body in code_blocks(section(README, "YAML layout and pitfalls")) if "compliance_mode" in body][0].strip()
    assert readme_line.replace("bot.yaml:5:18", "router.yaml:9:18") in done.stderr

"""The safety examples of README.md and docs/safety.md print what they show:
the example prod environment against a real sandbox, edited as the README's
diff says, planned, refused at apply, then weakened in the console for drift;
and the safety floor policy through `validate`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import requests

from tests.docs.docs_helpers import DOCS, REPO, code_blocks, section

if TYPE_CHECKING:
    from planner.sandbox import RunningSandbox

README = (REPO / "README.md").read_text(encoding="utf-8")
SAFETY = (DOCS / "safety.md").read_text(encoding="utf-8")
PROD_WEBHOOK = "https://governance.example.com/hooks/llm"


def shown(text: str, command: str) -> str:
    """What the first block starting with ``$ COMMAND`` shows under it."""
    for _, body in code_blocks(text):
        if body.startswith(f"$ {command}\n"):
            return body.split("\n", 1)[1]
    raise AssertionError(f"no `$ {command}` block")


def readme_edit(model: Path) -> None:
    """Apply the README's diff of support-bot.yaml to ``model``."""
    (diff,) = [body for language, body in code_blocks(section(README, "Safety: a plan that weakens a model")) if language == "diff"]
    assert diff.startswith(" # environments/prod/models/support-bot.yaml\n")
    removed = [line[1:] for line in diff.splitlines() if line.startswith("-")]
    added = [line[1:] for line in diff.splitlines() if line.startswith("+")]
    text = model.read_text(encoding="utf-8")
    for old, new in zip(removed, added, strict=True):
        assert old + "\n" in text, old
        text = text.replace(old + "\n", new + "\n")
    model.write_text(text, encoding="utf-8")


class Prod:
    """A copy of environments/prod whose gateway and webhook are the sandbox's."""

    def __init__(self, root: Path, sandbox: "RunningSandbox") -> None:
        self.root = root
        shutil.copytree(REPO / "environments" / "prod", root / "environments" / "prod")
        settings = root / "environments/prod/environment.yaml"
        text = settings.read_text(encoding="utf-8")
        assert PROD_WEBHOOK in text
        settings.write_text(text.replace(PROD_WEBHOOK, f"{sandbox.url}/__sandbox/webhook"), encoding="utf-8")
        self.environ = {
            "PATH": "/usr/bin:/bin", "NO_COLOR": "1", "LLMPLAN_GATEWAY_URL": sandbox.url, "LLMPLAN_GOVERNANCE_SECRET": "docs-secret",
            "GENESYSCLOUD_OAUTHCLIENT_ID": "sandbox", "GENESYSCLOUD_OAUTHCLIENT_SECRET": "sandbox-secret",
        }

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "planner", *args, "--root", str(self.root)], capture_output=True, text=True,
                              timeout=60, env=self.environ, cwd=self.root)


def test_the_readme_plan_that_weakens_and_its_refusal_are_what_llmplan_prints(tmp_path: Path, make_sandbox: Callable[..., "RunningSandbox"]) -> None:
    sandbox = make_sandbox(rate_limit=30_000)
    prod = Prod(tmp_path, sandbox)
    first = prod.run("apply", "--env", "prod", "--auto-approve", "--force")  # four first configurations: neutral
    assert first.returncode == 0, first.stderr
    model = tmp_path / "environments/prod/models/support-bot.yaml"
    original = model.read_text(encoding="utf-8")
    readme_edit(model)

    planned = prod.run("plan", "--env", "prod", "--out", "plan.json")
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout == shown(README, "llmplan plan --env prod --out plan.json")

    refused = prod.run("apply", "plan.json", "--force")
    assert refused.returncode == 1
    assert refused.stderr == shown(README, "llmplan apply plan.json --force") == shown(SAFETY, "llmplan apply plan.json --force")

    # the same model weakened in the console instead: the drift example of docs/safety.md
    model.write_text(original, encoding="utf-8")
    token = requests.post(f"{sandbox.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=("sandbox", "sandbox-secret"), timeout=10).json()["access_token"]
    live = requests.get(f"{sandbox.url}/api/v2/ai/models/a1b2c3d4-e5f6-7890-abcd-ef1234567890/configuration", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    filters = [dict(item, action="redact") if item["filter_type"] == "profanity" else item for item in live["safety_filters"]]
    answer = requests.patch(f"{sandbox.url}/__sandbox/models/a1b2c3d4-e5f6-7890-abcd-ef1234567890/configuration", json={"safety_filters": filters}, timeout=10)
    assert answer.status_code == 200, answer.text
    drift = prod.run("drift", "--env", "prod", "--fail-on-weakening")
    assert drift.returncode == 2, drift.stderr
    documented = shown(SAFETY, "llmplan drift --env prod")
    assert documented.endswith("\n…\n")
    assert drift.stdout.startswith(documented.removesuffix("…\n"))


def test_the_safety_floor_policy_prints_what_safety_md_shows(tmp_path: Path) -> None:
    shutil.copytree(REPO / "environments" / "prod", tmp_path / "environments" / "prod")
    floor = SAFETY[SAFETY.index("## The safety floor: a validate policy"):]  # the last section (its YAML comments look like headings)
    environment_file, model_file = [body for language, body in code_blocks(floor) if language == "yaml"]
    assert environment_file.startswith("# environments/prod/environment.yaml") and model_file.startswith("# environments/prod/models/summarizer.yaml")
    (tmp_path / "environments/prod/environment.yaml").write_text(environment_file, encoding="utf-8")
    (tmp_path / "environments/prod/models/summarizer.yaml").write_text(model_file, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "planner", "validate", "--env", "prod", "--root", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    assert result.returncode == 1
    assert result.stderr == shown(floor, "llmplan validate --env prod")


def test_the_rules_table_of_safety_md_is_the_shipped_rules_file() -> None:
    import json

    from tests.docs.docs_helpers import backticked, table_rows

    shipped = json.loads((REPO / "schemas" / "safety-rules.json").read_text(encoding="utf-8"))
    rows = {backticked(row[0]): row[1] for row in table_rows(section(SAFETY, "The rules and their defaults"))}
    assert set(rows) == set(shipped) == set(json.loads((REPO / "schemas" / "safety-rules.schema.json").read_text(encoding="utf-8"))["properties"])
    for key, value in shipped.items():
        assert rows[key] == f"`{'[' + ', '.join(value) + ']' if isinstance(value, list) else value}`", key


def test_the_example_environments_choose_what_safety_md_says() -> None:
    import yaml

    chosen = {env: yaml.safe_load((REPO / "environments" / env / "environment.yaml").read_text(encoding="utf-8"))["apply"]["weakening"] for env in ("dev", "staging", "prod")}
    assert chosen == {"dev": "allow", "staging": "confirm", "prod": "refuse"}
    assert "`allow` for dev (cheap experiments), `confirm` for\nstaging and `refuse` for prod" in SAFETY

"""A fleet with a history, made by the real CLI against real sandboxes, for the report's tests.

Two environments, each with its own sandbox gateway on 127.0.0.1 (as staging
and prod have their own gateways), three generated models each:

1. both applied; prod's ``bench-00001`` has a stricter pii filter than staging's
   (block 50 instead of redact 80): a difference between environments;
2. staging weakens ``bench-00002``'s pii filter (redact → flag) and applies it
   with ``--allow-weakening``, as the CI actor ``octocat``;
3. prod changes ``bench-00003``'s max_tokens, and its gateway refuses it (400):
   a failure;
4. someone weakens prod's ``bench-00002`` in the console (the sandbox's admin
   endpoint): safety weakened outside llmplan;
5. ``llmplan drift --env prod`` finds it (exit 2) and remembers the result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable

from planner.model.catalog import generated_model_id
from tests.apply.project import ApplyProject, Run, SandboxAdmin

PII_REDACT = "{filter_type: pii, action: redact, threshold: 80}"
PII_BLOCK = "{filter_type: pii, action: block, threshold: 50}"
PII_FLAG = "{filter_type: pii, action: flag, threshold: 80}"
MODELS = ("bench-00001", "bench-00002", "bench-00003")
NO_CI = {"GITHUB_ACTOR": None, "GITLAB_USER_LOGIN": None, "BUILD_REQUESTEDFOR": None, "BUILDKITE_BUILD_CREATOR": None, "CIRCLE_USERNAME": None, "BUILD_USER_ID": None}


@dataclass
class Fleet:
    root: Path
    staging: ApplyProject
    prod: ApplyProject
    staging_gateway: SandboxAdmin
    prod_gateway: SandboxAdmin
    stop_gateways: Callable[[], None]

    def report(self, out: Path, *args: str) -> Run:
        return self.prod.run("report", "--out", str(out), *args)

    def audit(self, env: str) -> list[dict[str, Any]]:
        path = self.root / "state" / env / "audit.jsonl"
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def make_fleet(root: Path, make_sandbox: Callable[..., Any]) -> Fleet:
    gateways = [make_sandbox(rate_limit=30_000, extra_models=4) for _ in range(2)]
    staging = ApplyProject(root, gateways[0].url, "staging")
    prod = ApplyProject(root, gateways[1].url, "prod")
    staging_gateway, prod_gateway = SandboxAdmin(gateways[0].url), SandboxAdmin(gateways[1].url)
    for project in (staging, prod):
        project.add_generated(3)
    prod.edit_model("bench-00001", PII_REDACT, PII_BLOCK)
    for project in (staging, prod):
        done = project.run("apply", "--env", project.env, "--auto-approve")
        assert done.code == 0, str(done)

    staging.edit_model("bench-00002", PII_REDACT, PII_FLAG)
    done = staging.run("apply", "--env", "staging", "--auto-approve", "--allow-weakening", env={**NO_CI, "GITHUB_ACTOR": "octocat"})
    assert done.code == 0, str(done)

    prod.edit_model("bench-00003", "max_tokens: 1024", "max_tokens: 2000")
    prod_gateway.faults(rules=[prod_gateway.fail_puts(generated_model_id(3), 400)])
    done = prod.run("apply", "--env", "prod", "--auto-approve")
    assert done.code == 1, str(done)
    prod_gateway.clear_faults()

    prod_gateway.patch(generated_model_id(2), safety_filters=[{"filter_type": "pii", "action": "flag", "threshold": 95}, {"filter_type": "profanity", "action": "flag", "threshold": 60}])
    done = prod.run("drift", "--env", "prod")
    assert done.code == 2, str(done)

    def stop() -> None:
        for gateway in gateways:
            gateway.stop()

    return Fleet(root, staging, prod, staging_gateway, prod_gateway, stop)


class _Text(HTMLParser):
    """A page's text as a reader sees it (no style, no script), whitespace collapsed."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def text_of(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())

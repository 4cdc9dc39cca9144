"""The client secret, the webhook signing secret and the bearer tokens appear
in no output and no file, whatever the command, even with --debug and when
things fail."""

from __future__ import annotations

import base64
import logging
import re
from pathlib import Path
from typing import Any, Callable

import pytest

from planner.sandbox import ClientSpec
from planner.sandbox.tokens import default_clients
from tests.apply.project import WEBHOOK_SECRET_ENV, ApplyProject, Run, SandboxAdmin

CLIENT_ID = "canary-client"
CLIENT_SECRET = "CANARY-client-secret-7f3a9c1e"
WEBHOOK_SECRET = "CANARY-webhook-secret-2b8d4e6f"
WRONG_SECRET = "CANARY-wrong-secret-9e1c5a3b"
BASIC = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
CANARIES = (CLIENT_SECRET, WEBHOOK_SECRET, WRONG_SECRET, BASIC, "CANARY")
# a bearer token shown in full (anything but the mask)
BEARER = re.compile(r"Bearer\s+(?!\*\*\*)[A-Za-z0-9_\-]{8,}")


def leaks(text: str | bytes) -> list[str]:
    data = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    found = [canary for canary in CANARIES if canary in data]
    found += BEARER.findall(data)
    found += re.findall(r'"access_token"\s*:\s*"[^"*]+', data)
    return found


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_no_secret_in_any_output_or_file(debug: bool, tmp_path: Path, make_sandbox: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every log record of every module, request logs included
    sandbox = make_sandbox(rate_limit=30_000, extra_models=4, clients={**default_clients(), CLIENT_ID: ClientSpec(CLIENT_SECRET)})
    admin = SandboxAdmin(sandbox.url)
    project = ApplyProject(tmp_path / "project", sandbox.url, webhook_url=f"{sandbox.url}/__sandbox/webhook")
    models = project.add_generated(4)
    secrets = {"GENESYSCLOUD_OAUTHCLIENT_ID": CLIENT_ID, "GENESYSCLOUD_OAUTHCLIENT_SECRET": CLIENT_SECRET, WEBHOOK_SECRET_ENV: WEBHOOK_SECRET}
    if debug:
        secrets["LLMPLAN_DEBUG"] = "1"
    plan_file = tmp_path / "plan.json"
    runs: list[tuple[str, Run]] = []

    def run(*args: str, env: dict[str, str | None] | None = None) -> Run:
        done = project.run(*(["--debug"] if debug else []), *args, env={**secrets, **(env or {})})
        runs.append((" ".join(args), done))
        return done

    assert run("plan", "--env", "dev", "--out", str(plan_file)).code == 0
    assert run("apply", str(plan_file)).code == 0
    # a refused PUT and a governance receiver that is down: error paths print more
    project.edit_model("bench-00001", "max_tokens: 1024", "max_tokens: 2000")
    project.edit_model("bench-00002", "max_tokens: 1024", "max_tokens: 2000")
    admin.faults(rules=[admin.fail_puts(models["bench-00001"], 400), {"match": {"method": "POST", "path": "/__sandbox/webhook"}, "effect": "status", "status": 500}])
    assert run("apply", "--env", "dev", "--auto-approve").code == 1
    admin.clear_faults()
    assert run("governance", "flush", "--env", "dev").code == 0
    admin.patch(models["bench-00003"], max_tokens=700)
    assert run("drift", "--env", "dev").code == 2
    assert run("drift", "--env", "dev", "--format", "json").code == 2
    assert run("plan", "--env", "dev", "--format", "json").code == 0
    for command in (("audit", "show"), ("audit", "verify"), ("state", "show")):
        assert run(*command, "--env", "dev").code == 0
    assert run("audit", "show", "--env", "dev", "--format", "json").code == 0
    assert run("state", "show", "--env", "dev", "--format", "json").code == 0
    # a wrong secret: the refusal names the variable, never the value
    refused = run("plan", "--env", "dev", env={"GENESYSCLOUD_OAUTHCLIENT_SECRET": WRONG_SECRET})
    assert refused.code == 1 and "GENESYSCLOUD_OAUTHCLIENT" in refused.stderr, str(refused)
    if debug:
        assert any("Traceback" in done.stderr for _, done in runs), "--debug shows tracebacks: the check covered them"

    for command, done in runs:
        assert leaks(done.stdout) == [], f"llmplan {command}: stdout"
        assert leaks(done.stderr) == [], f"llmplan {command}: stderr"
    files = [path for path in (project.root / "state").rglob("*") if path.is_file()] + [plan_file]
    assert {path.name for path in files} >= {"state.json", "audit.jsonl", "metrics.prom", "plan.json"}
    for path in files:
        assert leaks(path.read_bytes()) == [], str(path)
    assert "GET /api/v2/ai/models/" in caplog.text, "the gateway's request log was captured"
    assert leaks(caplog.text) == []
    # and nothing was sent to the receiver but the signature
    for delivery in admin.deliveries():
        assert leaks(delivery["raw"]) == []

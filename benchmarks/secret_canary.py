"""Secret canary: the whole CLI surface with canary secrets; no secret may show up anywhere.

Run from the repository root (about 30 s):

    .venv/bin/python -m benchmarks.secret_canary [--in-process]

The sandbox (its own process) accepts only a canary OAuth client, whose
secret reaches it through ``LLMPLAN_SANDBOX_CLIENT_SECRET`` (never a command
line); governance deliveries are signed with a canary secret.  Every command
of the CLI runs twice, once plain and once with ``--debug`` (request logs,
tracebacks): validate; plan --out; show in three formats; apply of the saved
plan; an apply where one PUT is refused and the webhook receiver is down;
governance flush; drift in three formats (one with --out) after an
out-of-band change; refresh; import (list, then one model); plan as JSON and
markdown; state show; audit show and verify; and a plan with a wrong secret
(the refusal must name the variable, not the value).  Each command's exit
code is checked, so the error paths really ran.

Then every stdout and stderr, every file under the project (state, journal,
audit trail, outbox, metrics, lock, plan, drift report, imported YAML) and
every webhook delivery the sandbox received (body and headers) is searched
for the client secret, the webhook secret, the wrong secret, the Basic
credentials, any bearer token shown in full and any ``access_token`` value.
Goal: 0 hits.  ``--in-process`` runs the CLI through ``planner.cli.main``
instead of child processes (what ``tests/reliability`` does, faster).
"""

from __future__ import annotations

import argparse
import base64
import re
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._common import ApplyProject, address, cli_environ, finish, llmplan_command, sandbox_process, timed  # noqa: E402
from planner.model.catalog import generated_model_id  # noqa: E402
from tests.apply.project import WEBHOOK_SECRET_ENV, Run, model_config  # noqa: E402

NAME = "secret_canary"
CLIENT_ID = "canary-client"
ENV = "canary"
BEARER = re.compile(r"Bearer\s+(?!\*\*\*)[A-Za-z0-9_\-.~+/]{8,}")
ACCESS_TOKEN = re.compile(r'"?access_token"?\s*[:=]\s*"?(?!\*\*\*)[A-Za-z0-9_\-.~+/]{8,}')


@dataclass(frozen=True)
class Canaries:
    client_secret: str
    webhook_secret: str
    wrong_secret: str

    @classmethod
    def fresh(cls) -> "Canaries":
        tag = secrets.token_hex(6)
        return cls(f"CANARY-client-{tag}", f"CANARY-webhook-{tag}", f"CANARY-wrong-{tag}")

    def hits(self, text: str) -> list[str]:
        """What of the secrets ``text`` shows (names, not values)."""
        basic = base64.b64encode(f"{CLIENT_ID}:{self.client_secret}".encode()).decode()
        found = [name for name, value in (("client secret", self.client_secret), ("webhook secret", self.webhook_secret), ("wrong secret", self.wrong_secret), ("basic credentials", basic)) if value in text]
        found += ["bearer token"] * len(BEARER.findall(text))
        found += ["access_token value"] * len(ACCESS_TOKEN.findall(text))
        return found


@dataclass
class Surface:
    runs: list[tuple[str, Run]] = field(default_factory=list)
    unexpected_exits: list[str] = field(default_factory=list)


def exercise(project: ApplyProject, sandbox_url: str, canaries: Canaries, *, debug: bool, in_process: bool, surface: Surface) -> None:
    """Every command, with the exit code each must give."""
    admin = project_admin(sandbox_url)
    environ = {"GENESYSCLOUD_OAUTHCLIENT_ID": CLIENT_ID, "GENESYSCLOUD_OAUTHCLIENT_SECRET": canaries.client_secret, WEBHOOK_SECRET_ENV: canaries.webhook_secret}
    plan_file = project.root / "plan.json"
    drift_file = project.root / "drift.json"

    def run(expected: tuple[int, ...], *args: str, env: dict[str, str | None] | None = None, root: bool = True) -> Run:
        argv = [*(["--debug"] if debug else []), *args]
        merged = {**environ, **(env or {})}
        if in_process:
            done = project.run(*argv, env=merged, root=root)
        elif root:
            done = project.subprocess(*argv, env=merged, timeout=120)
        else:
            child = timed([*llmplan_command(), *argv], environ=cli_environ(project.environ(merged)), timeout=120)
            done = Run(child.code, child.stdout, child.stderr)
        label = f"llmplan {' '.join(argv)}"
        surface.runs.append((label, done))
        if done.code not in expected:
            surface.unexpected_exits.append(f"{label}: exit {done.code}, expected {expected}: {done.stderr.strip()[-300:]}")
        return done

    run((0,), "validate", "--env", ENV)
    run((0,), "plan", "--env", ENV, "--out", str(plan_file))
    for output_format in ("text", "markdown", "json"):
        run((0,), "show", str(plan_file), "--format", output_format, root=False)
    run((0,), "apply", str(plan_file))
    # error paths print more: a refused PUT, a governance receiver that is down
    project.edit_model(address(1), "max_tokens: 1024", "max_tokens: 2000")
    project.edit_model(address(2), "max_tokens: 1024", "max_tokens: 2000")
    admin.faults(rules=[admin.fail_puts(generated_model_id(1), 400), {"match": {"method": "POST", "path": "/__sandbox/webhook"}, "effect": "status", "status": 500}])
    run((1,), "apply", "--env", ENV, "--auto-approve")
    admin.clear_faults()
    run((0,), "governance", "flush", "--env", ENV)
    admin.patch(generated_model_id(3), max_tokens=700)  # a console edit: drift
    run((2,), "drift", "--env", ENV)
    run((2,), "drift", "--env", ENV, "--format", "json", "--out", str(drift_file))
    run((2,), "drift", "--env", ENV, "--format", "markdown")
    run((0,), "refresh", "--env", ENV)
    admin.add_models({"id": generated_model_id(4), "name": "bench-00004", "capabilities": {"max_context_window": 8192, "restricted_safety_filters": []}, "configuration": model_config(generated_model_id(4))})
    run((0,), "import", "--env", ENV)
    run((0,), "import", "--env", ENV, "--model-id", generated_model_id(4))
    run((0, 2), "plan", "--env", ENV, "--format", "json")
    run((0, 2), "plan", "--env", ENV, "--format", "markdown", "--detailed-exitcode")
    for args in (("state", "show"), ("state", "show", "--format", "json"), ("audit", "show"), ("audit", "show", "--format", "json"), ("audit", "verify")):
        run((0,), *args, "--env", ENV)
    refused = run((1,), "plan", "--env", ENV, env={"GENESYSCLOUD_OAUTHCLIENT_SECRET": canaries.wrong_secret})
    if "GENESYSCLOUD_OAUTHCLIENT" not in refused.stderr:
        surface.unexpected_exits.append("a refused secret: the error does not name the variable to check")


def project_admin(url: str) -> Any:
    from tests.apply.project import SandboxAdmin

    return SandboxAdmin(url)


def canary_run(workdir: Path, *, in_process: bool = False, canaries: Canaries | None = None) -> dict[str, Any]:
    """Both modes (plain, --debug) against one sandbox; hits by place, and what was searched."""
    canaries = canaries or Canaries.fresh()
    surface = Surface()
    hits: dict[str, list[str]] = {}
    files_searched = 0
    with sandbox_process("--models", "4", "--rate-limit", "100000000", "--client-id", CLIENT_ID, environ={"LLMPLAN_SANDBOX_CLIENT_SECRET": canaries.client_secret}) as sandbox:
        projects = []
        for mode in ("plain", "debug"):
            project = ApplyProject(workdir / mode, sandbox.url, env=ENV, webhook_url=f"{sandbox.url}/__sandbox/webhook")
            project.add_generated(3)
            projects.append(project)
            exercise(project, sandbox.url, canaries, debug=mode == "debug", in_process=in_process, surface=surface)
            # the next mode starts from the same gateway state
            sandbox.admin.clear_faults()
            for index in range(1, 5):
                sandbox.admin.add_models({"id": generated_model_id(index), "name": f"bench-{index:05d}", "capabilities": {"max_context_window": 8192, "restricted_safety_filters": []}})
        deliveries = project_admin(sandbox.url).deliveries()
    for label, done in surface.runs:
        for stream, text in (("stdout", done.stdout), ("stderr", done.stderr)):
            found = canaries.hits(text)
            if found:
                hits[f"{label} ({stream})"] = found
    for project in projects:
        for path in sorted(p for p in project.root.rglob("*") if p.is_file()):
            files_searched += 1
            found = canaries.hits(path.read_bytes().decode("utf-8", "replace"))
            if found:
                hits[str(path.relative_to(workdir))] = found
    for index, delivery in enumerate(deliveries):
        found = canaries.hits(delivery["raw"] + repr(delivery["headers"]))
        if found:
            hits[f"webhook delivery {index}"] = found
    debug_tracebacks = sum("Traceback" in done.stderr for label, done in surface.runs if "--debug" in label)
    # proof that the most talkative output was searched: request logs with the masked header
    debug_request_logs = sum("Bearer ***" in done.stderr for label, done in surface.runs if "--debug" in label)
    return {
        "commands_run": len(surface.runs),
        "outputs_searched": 2 * len(surface.runs),
        "files_searched": files_searched,
        "webhook_deliveries_searched": len(deliveries),
        "debug_runs_with_traceback": debug_tracebacks,
        "debug_runs_with_request_log": debug_request_logs,
        "unexpected_exits": surface.unexpected_exits,
        "hits": hits,
        "hit_count": sum(len(found) for found in hits.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--in-process", action="store_true", help="run the CLI through planner.cli.main instead of child processes")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmplan-canary-") as directory:
        result = canary_run(Path(directory), in_process=options.in_process)
    print(
        f"secret canary: {result['hit_count']} hits in {result['outputs_searched']} outputs of {result['commands_run']} commands, "
        f"{result['files_searched']} files and {result['webhook_deliveries_searched']} webhook deliveries"
        f" ({result['debug_runs_with_request_log']} --debug runs logged requests, {result['debug_runs_with_traceback']} showed a traceback)",
        flush=True,
    )
    for place, found in result["hits"].items():
        print(f"  {place}: {', '.join(found)}")
    for problem in result["unexpected_exits"]:
        print(f"  {problem}")
    ok = result["hit_count"] == 0 and not result["unexpected_exits"]
    figure = f"{result['hit_count']} hits in {result['outputs_searched']} outputs, {result['files_searched']} files, {result['webhook_deliveries_searched']} deliveries"
    return finish(NAME, figure, "0 hits", ok, result)


if __name__ == "__main__":
    raise SystemExit(main())

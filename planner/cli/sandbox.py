"""``llmplan sandbox …`` commands: parse options, start the server, wait for a signal."""

from __future__ import annotations

import json
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import click
import requests

from planner.adapters.project import environment_directory
from planner.cli.options import CONTEXT, root_option
from planner.core.yamlsource import parse_yaml
from planner.model.catalog import DEMO_MODELS
from planner.sandbox.answers import ApiError
from planner.sandbox.errors import SandboxError
from planner.sandbox.server import start_sandbox
from planner.sandbox.store import ModelStore
from planner.sandbox.tokens import READONLY_CLIENT_ID, ClientSpec, default_clients


def _fail_rule(text: str) -> dict[str, Any]:
    """``503:0.3`` → a status rule firing for 30 % of API requests; ``429:0.1:2`` adds Retry-After 2."""
    parts = text.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        rule: dict[str, Any] = {"effect": "status", "status": int(parts[0]), "share": float(parts[1])}
        if len(parts) == 3:
            rule["retry_after"] = float(parts[2])
    except ValueError:
        raise click.BadParameter(f"{text!r} is not STATUS:SHARE[:RETRY_AFTER], e.g. 503:0.3 or 429:0.1:2") from None
    return rule


def _faults_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise click.BadParameter(f"cannot read {path}: {error}", param_hint="--faults") from None
    if not isinstance(data, dict):
        raise click.BadParameter(f"{path} must hold a JSON object (the body of POST /__sandbox/faults)", param_hint="--faults")
    return data


@click.group(context_settings=CONTEXT)
def sandbox() -> None:
    """Run the built-in sandbox gateway (a local stand-in for the real API).

    \b
    Examples:
      llmplan sandbox serve --port 8765
      LLMPLAN_GATEWAY_URL=http://127.0.0.1:8765 llmplan plan --env dev
    """


@sandbox.command(context_settings=CONTEXT)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on; loopback only unless --allow-remote.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on; 0 picks a free one.")
@click.option("--models", "extra_models", default=0, show_default=True, type=click.IntRange(0, 1_000_000), help="Add N generated models (bench-00001 …, stable ids) to the demo catalog.")
@click.option("--no-catalog", is_flag=True, help="Start without the demo models.")
@click.option("--data", "data_file", type=click.Path(dir_okay=False, path_type=Path), help="Keep models and configurations in this JSON file across restarts (created if missing).")
@click.option("--rate-limit", default=300, show_default=True, type=click.IntRange(min=1), help="Requests each client may make per window.")
@click.option("--rate-window", default=60.0, show_default=True, type=click.FloatRange(min=0.001, max=86_400), help="Length of a rate-limit window in seconds.")
@click.option("--latency-ms", default=0.0, show_default=True, type=click.FloatRange(min=0), help="Added latency for every API and token request, in milliseconds.")
@click.option("--latency-jitter-ms", default=0.0, show_default=True, type=click.FloatRange(min=0), help="Random +/- jitter around --latency-ms, in milliseconds.")
@click.option("--token-lifetime", default=86_400, show_default=True, type=click.IntRange(min=1), help="Lifetime of issued access tokens in seconds.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the fault decisions, for reproducible runs.")
@click.option("--fail", "fail_rules", multiple=True, metavar="STATUS:SHARE[:RETRY]", help="Answer this share of API requests with STATUS (e.g. 503:0.3, or 429:0.1:2 with Retry-After 2). Repeatable.")
@click.option("--drop-share", type=click.FloatRange(0, 1), help="Close this share of API connections without an answer.")
@click.option("--lost-answer-share", type=click.FloatRange(0, 1), help="Apply this share of API requests, then close the connection without answering (an unknown outcome).")
@click.option("--slow-answer-share", type=click.FloatRange(0, 1), help="Apply this share of API requests, then answer only after --slow-answer-ms.")
@click.option("--slow-answer-ms", default=20_000.0, show_default=True, type=click.FloatRange(0, 600_000), help="Delay of the --slow-answer-share answers; make it longer than the client's read timeout (llmplan's: 15 s).")
@click.option("--faults", "faults_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="JSON file with fault settings, as the body of POST /__sandbox/faults.")
@click.option("--client-id", default="sandbox", show_default=True, help="OAuth client id with every scope (sandbox-readonly always exists too).")
@click.option("--client-secret", envvar="LLMPLAN_SANDBOX_CLIENT_SECRET", default="sandbox-secret", show_default="sandbox-secret, or $LLMPLAN_SANDBOX_CLIENT_SECRET", help="Secret of --client-id.")
@click.option(
    "--webhook-secret",
    envvar="LLMPLAN_SANDBOX_WEBHOOK_SECRET",
    show_default="none: recorded unchecked; or $LLMPLAN_SANDBOX_WEBHOOK_SECRET",
    help="Verify each delivery to /__sandbox/webhook with this Standard Webhooks secret (whsec_… or plain; two, space-separated, while rotating). "
    "Prefer the variable: a command line is visible to other users.",
)
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host (the sandbox has no real security).")
@click.option("--verbose", "-v", is_flag=True, help="Print one line per request to stderr.")
def serve(
    host: str,
    port: int,
    extra_models: int,
    no_catalog: bool,
    data_file: Path | None,
    rate_limit: int,
    rate_window: float,
    latency_ms: float,
    latency_jitter_ms: float,
    token_lifetime: int,
    seed: int,
    fail_rules: tuple[str, ...],
    drop_share: float | None,
    lost_answer_share: float | None,
    slow_answer_share: float | None,
    slow_answer_ms: float,
    faults_file: Path | None,
    client_id: str,
    client_secret: str,
    webhook_secret: str | None,
    allow_remote: bool,
    verbose: bool,
) -> None:
    """Serve the sandbox gateway until Ctrl-C (SIGINT) or SIGTERM.

    It implements the gateway API (OAuth, models, configurations, paging,
    rate limits, errors) plus /__sandbox/ admin endpoints for faults, seeding,
    drift, the request log and a webhook receiver. Prints
    "listening on http://HOST:PORT" once ready; exits 0 when stopped.
    Given --webhook-secret (the one llmplan signs with), the receiver
    records whether each delivery's Standard Webhooks signature verifies.

    \b
    Examples:
      llmplan sandbox serve --port 8765 --data state/sandbox.json
      llmplan sandbox serve --port 0 --models 1000 --rate-limit 100000
      llmplan sandbox serve --latency-ms 50 --latency-jitter-ms 10 --fail 503:0.1 --seed 7
      LLMPLAN_SANDBOX_WEBHOOK_SECRET="$LLMPLAN_GOVERNANCE_SECRET" llmplan sandbox serve --port 0
      llmplan sandbox serve --lost-answer-share 0.05 --slow-answer-share 0.01 --slow-answer-ms 20000
    """
    faults = _faults_file(faults_file)
    rules = list(faults.get("rules", []))
    rules.extend(_fail_rule(text) for text in fail_rules)
    if drop_share is not None:
        rules.append({"effect": "drop", "share": drop_share})
    if lost_answer_share is not None:
        rules.append({"effect": "lost_answer", "share": lost_answer_share})
    if slow_answer_share is not None:
        rules.append({"effect": "slow_answer", "share": slow_answer_share, "delay_ms": slow_answer_ms})
    if rules:
        faults["rules"] = rules
    clients = {key: spec for key, spec in default_clients().items() if key == READONLY_CLIENT_ID}
    clients[client_id] = ClientSpec(client_secret)

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        running = start_sandbox(
            host=host,
            port=port,
            extra_models=extra_models,
            catalog=not no_catalog,
            data_file=data_file,
            rate_limit=rate_limit,
            rate_window_seconds=rate_window,
            latency_ms=latency_ms,
            latency_jitter_ms=latency_jitter_ms,
            token_lifetime_seconds=token_lifetime,
            seed=seed,
            faults=faults or None,
            clients=clients,
            allow_remote=allow_remote,
            verbose=verbose,
            webhook_secret=webhook_secret,
        )
        try:
            click.echo(f"listening on {running.url}")
            sys.stdout.flush()
            while not stop.wait(0.5):
                pass
        finally:
            running.stop()
        click.echo("stopped", err=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _assignment(text: str) -> tuple[list[str], Any]:
    """``max_tokens=1024`` / ``temperature_matrix.creative=1.4`` → (path, value); values are YAML."""
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise click.BadParameter(f"{text!r} is not FIELD=VALUE (e.g. max_tokens=1024 or temperature_matrix.creative=1.4)")
    document, problems = parse_yaml(f"value: {raw}", "value")
    if problems or document is None:
        raise click.BadParameter(f"{raw!r} is not a YAML value: {problems[0].message if problems else ''}")
    return name.split("."), document.data["value"]


def _changes(assignments: tuple[str, ...]) -> dict[str, Any]:
    """``FIELD=VALUE`` arguments as the body of a PATCH (dotted names nest)."""
    changes: dict[str, Any] = {}
    for text in assignments:
        path, value = _assignment(text)
        target = changes
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    return changes


def _edit_running(url: str, model_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """PATCH a running sandbox's configuration through its admin endpoint."""
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise SandboxError(f"--url {url!r} is not an http:// address", hint="pass the address `llmplan sandbox serve` printed, e.g. http://127.0.0.1:8765")
    target = f"{url.rstrip('/')}/__sandbox/models/{quote(model_id, safe='')}/configuration"
    with requests.Session() as session:
        session.trust_env = False  # a sandbox is on loopback: never through a proxy
        try:
            answer = session.patch(target, json=changes, timeout=10)
        except requests.Timeout:
            raise SandboxError(f"the sandbox at {url} did not answer within 10 s") from None
        except requests.RequestException as error:
            found = re.search(r"\[Errno -?\d+\] [^'\")]+", str(error))
            reason = found.group(0) if found else type(error).__name__
            raise SandboxError(f"cannot reach the sandbox at {url}: {reason}", hint="start one with `llmplan sandbox serve` and pass the address it prints") from None
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise SandboxError(f"{url} answered {answer.status_code} without a JSON body: is it an llmplan sandbox?")
    if answer.status_code != 200:
        raise SandboxError(f"the sandbox refused the edit ({answer.status_code} {body.get('code', '')}): {body.get('message', '')}")
    return body


@sandbox.command(context_settings=CONTEXT)
@click.option("--env", "-e", "env", metavar="ENV", help="Edit the in-process sandbox of this environment (state/ENV/sandbox.json).")
@root_option
@click.option("--data", "data_file", type=click.Path(dir_okay=False, path_type=Path), help="Edit this sandbox data file instead.")
@click.option("--url", metavar="URL", help="Edit a running `llmplan sandbox serve` at this address instead (e.g. http://127.0.0.1:8765).")
@click.argument("model_id")
@click.argument("assignments", nargs=-1, required=True, metavar="FIELD=VALUE...")
def edit(env: str | None, root: Path, data_file: Path | None, url: str | None, model_id: str, assignments: tuple[str, ...]) -> None:
    """Change a model's configuration behind llmplan's back (a console edit).

    Simulates someone editing the gateway by hand, to rehearse drift: the
    change is validated like a real one and bumps the version. Works on a
    running `llmplan sandbox serve` (--url, through its admin endpoint), or
    on the data file of an environment with `gateway: {sandbox: true}` (or
    --data) while no command of that environment runs.

    \b
    Examples:
      llmplan sandbox edit --url http://127.0.0.1:8765 a1b2c3d4-e5f6-7890-abcd-ef1234567890 max_tokens=1024
      llmplan sandbox edit --env dev a1b2c3d4-e5f6-7890-abcd-ef1234567890 max_tokens=1024
      llmplan sandbox edit --env dev a1b2c3d4-e5f6-7890-abcd-ef1234567890 temperature_matrix.creative=1.4
    """
    if sum(given is not None for given in (env, data_file, url)) != 1:
        raise click.UsageError("name the sandbox with --url, --env or --data (one of them)")
    changes = _changes(assignments)
    if url is not None:
        stored = _edit_running(url, model_id, changes)
        click.echo(f"{model_id}: now version {stored['version']} ({', '.join(assignments)})")
        return
    if data_file is None:
        assert env is not None
        environment_directory(root.resolve(), env)  # a clear error for an unknown environment
        data_file = root / "state" / env / "sandbox.json"
    if not data_file.exists():
        raise SandboxError(f"{data_file} does not exist: the sandbox has not run for this environment yet", hint="run a command on the environment first, e.g. llmplan plan --env ENV")
    store = ModelStore(data_file)
    store.open(DEMO_MODELS)
    try:
        stored = store.patch_configuration(model_id, changes)
    except ApiError as error:
        raise SandboxError(f"the sandbox refused the edit: {error.message}") from None
    click.echo(f"{model_id}: now version {stored['version']} ({', '.join(assignments)})")

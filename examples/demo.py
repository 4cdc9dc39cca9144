"""`make demo`: the whole llmplan loop on environments/dev, in under a minute.

environments/dev says `gateway: {sandbox: true}`, so every command below
starts llmplan's built-in sandbox gateway in-process, persisted in
state/dev/sandbox.json (ignored by Git). Each step runs the real `llmplan`
command line and says what it shows. The last step applies the same YAML in
a scratch copy whose environment.yaml adds a governance webhook, received by
`llmplan sandbox serve`, which verifies each event's Standard Webhooks
signature.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SUPPORT_BOT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
STEPS = 11


def step(root: Path, number: int, title: str, *args: str, expect: int = 0, env: dict[str, str] | None = None) -> None:
    print(f"\n\033[1m[{number}/{STEPS}] {title}\033[0m" if sys.stdout.isatty() else f"\n[{number}/{STEPS}] {title}")
    print(f"$ llmplan {' '.join(args)}", flush=True)
    result = subprocess.run([sys.executable, "-m", "planner", *args], cwd=root, env=None if env is None else {**os.environ, **env})
    if result.returncode != expect:
        print(f"demo: expected exit code {expect}, got {result.returncode}", file=sys.stderr)
        raise SystemExit(1)
    print(f"(exit code {result.returncode})", flush=True)


def start_receiver(secret: str) -> tuple[subprocess.Popen[str], str]:
    """`llmplan sandbox serve` as the governance receiver, verifying with ``secret``
    (passed in its environment, never on a command line); returns it and its URL."""
    command = [sys.executable, "-m", "planner", "sandbox", "serve", "--port", "0", "--no-catalog"]
    receiver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "LLMPLAN_SANDBOX_WEBHOOK_SECRET": secret})
    assert receiver.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(receiver.stdout, selectors.EVENT_READ)
        found = re.search(r"listening on (http://\S+)", receiver.stdout.readline()) if selector.select(timeout=30) else None
    if found is None:
        receiver.kill()
        print(f"demo: the governance receiver (llmplan sandbox serve) did not start: {receiver.communicate(timeout=10)[1]}", file=sys.stderr)
        raise SystemExit(1)
    return receiver, found.group(1)


def governance_step(root: Path) -> None:
    """Apply environments/dev in a scratch copy that sends signed governance events; show the receiver's verdicts."""
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    receiver, url = start_receiver(secret)
    try:
        with tempfile.TemporaryDirectory(prefix="llmplan-demo-") as scratch:
            shutil.copytree(root / "environments" / "dev", Path(scratch) / "environments" / "dev")
            with open(Path(scratch) / "environments" / "dev" / "environment.yaml", "a", encoding="utf-8") as settings:
                settings.write(f"governance:\n  webhook_url: {url}/__sandbox/webhook\n  secret_env: LLMPLAN_GOVERNANCE_SECRET\n")
            step(
                Path(scratch), STEPS,
                "governance: the same YAML applied in a scratch copy with a webhook; each change sends an event signed per Standard Webhooks, and the receiver verifies it",
                "apply", "--env", "dev", "--auto-approve", env={"LLMPLAN_GOVERNANCE_SECRET": secret},
            )
        with urllib.request.urlopen(f"{url}/__sandbox/webhook", timeout=10) as answer:
            deliveries: list[dict[str, Any]] = json.load(answer)["deliveries"]
    finally:
        receiver.terminate()
        receiver.communicate(timeout=10)
    verified = [delivery for delivery in deliveries if delivery["verified"] is True]
    print(f"governance receiver: {len(deliveries)} event(s) received, {len(verified)} verified (webhook-signature checked with the secret)")
    for delivery in deliveries:
        event, headers = delivery["body"], {name.lower(): value for name, value in delivery["headers"].items()}
        verdict = "verified" if delivery["verified"] else f"NOT verified ({delivery['verification_error']})"
        print(f"  {verdict}  {event['event_type']} {event['audit_log']['status']}  {event['audit_log']['address']}  webhook-id {headers['webhook-id']}")
    if not deliveries or len(verified) != len(deliveries):
        print("demo: every governance event should have been received and verified", file=sys.stderr)
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="project folder holding environments/dev (default: this repository)")
    root = parser.parse_args().root.resolve()
    started = time.monotonic()
    state = root / "state" / "dev"
    if state.exists():
        print(f"demo: starting over: removing {state}/ (the sandbox environment's local state)")
        shutil.rmtree(state)
    step(root, 1, "validate: check the YAML of environments/dev offline (schema, policy, duplicates); no request is sent", "validate", "--env", "dev")
    step(root, 2, "plan: compare the YAML with the live gateway; every model is new to it, so 5 creates", "plan", "--env", "dev", "--out", "state/dev/plan.json")
    step(root, 3, "apply: apply exactly the reviewed plan file; each PUT is recorded in state, the audit trail and metrics", "apply", "state/dev/plan.json")
    step(root, 4, "plan again: the gateway now matches the YAML, so no changes (exit 0 with --detailed-exitcode)", "plan", "--env", "dev", "--detailed-exitcode")
    step(root, 5, "someone edits support-bot by hand on the gateway (simulated console edit)", "sandbox", "edit", "--env", "dev", SUPPORT_BOT, "max_tokens=1024", "temperature_matrix.creative=1.4")
    step(root, 6, "drift (the cron job): reports the edit as changed outside llmplan, exit 2", "drift", "--env", "dev", expect=2)
    step(root, 7, "plan: proposes restoring the YAML's values, and lists the outside change separately", "plan", "--env", "dev")
    step(root, 8, "apply: restore the YAML (in CI: --auto-approve after review)", "apply", "--env", "dev", "--auto-approve")
    step(root, 9, "drift again: clean, exit 0", "drift", "--env", "dev")
    step(root, 10, "audit verify: the hash-chained audit trail of every change is intact", "audit", "verify", "--env", "dev")
    governance_step(root)
    elapsed = time.monotonic() - started
    print(f"\ndemo: the whole loop ran in {elapsed:.1f} s. Look at state/dev/: state.json, audit.jsonl, metrics.prom.")
    print("Next: README.md, 'Using llmplan in a team' (plan on pull requests, apply on merge, drift on a schedule).")


if __name__ == "__main__":
    main()

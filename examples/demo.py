"""`make demo`: the whole llmplan loop on environments/dev, in under a minute.

environments/dev says `gateway: {sandbox: true}`, so every command below
starts llmplan's built-in sandbox gateway in-process, persisted in
state/dev/sandbox.json (ignored by Git). Each step runs the real `llmplan`
command line and says what it shows.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUPPORT_BOT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"


def step(root: Path, number: int, title: str, *args: str, expect: int = 0) -> None:
    print(f"\n\033[1m[{number}/10] {title}\033[0m" if sys.stdout.isatty() else f"\n[{number}/10] {title}")
    print(f"$ llmplan {' '.join(args)}", flush=True)
    result = subprocess.run([sys.executable, "-m", "planner", *args], cwd=root)
    if result.returncode != expect:
        print(f"demo: expected exit code {expect}, got {result.returncode}", file=sys.stderr)
        raise SystemExit(1)
    print(f"(exit code {result.returncode})", flush=True)


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
    elapsed = time.monotonic() - started
    print(f"\ndemo: the whole loop ran in {elapsed:.1f} s. Look at state/dev/: state.json, audit.jsonl, metrics.prom.")
    print("Next: README.md, 'Using llmplan in a team' (plan on pull requests, apply on merge, drift on a schedule).")


if __name__ == "__main__":
    main()

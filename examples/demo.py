"""`make demo`: walk a newcomer through llmplan on environments/dev.

Each step runs the real `llmplan` command line, says what it does, and shows
what it printed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def step(title: str, *args: str, expect: tuple[int, ...] = (0,)) -> None:
    print(f"\n==> {title}\n    $ llmplan {' '.join(args)}", flush=True)
    result = subprocess.run([sys.executable, "-m", "planner", *args], cwd=ROOT)
    if result.returncode not in expect:
        print(f"demo: step failed with exit code {result.returncode}", file=sys.stderr)
        raise SystemExit(1)


def main() -> None:
    step("validate: check the YAML of environments/dev offline (schema, policy, duplicates)", "validate", "--env", "dev")
    print("\ndemo: done.")


if __name__ == "__main__":
    main()

"""`llmplan apply` of 1,000 models with the PostgreSQL records backend, against the local files, in one run.

Run from the repository root (about a minute):

    .venv/bin/python -m benchmarks.apply_1000_postgres [--runs 3]

The sandbox (its own process) answers after 50 ms with no rate limit that
matters; its 1,000 models are configured (max_tokens 1024) and the YAML says
2048, so each apply is 1,000 updates at parallelism 10 (5 s of round trips
at the least). A PostgreSQL server is started for the run
(tests/pg_server.py: Debian's binaries, or the pgserver wheel), on
127.0.0.1 with password authentication and fsync on. Each backend applies
``--runs`` times, alternately, each time to fresh live configurations and a
fresh schema or folder; the figure compares the medians. Goal: PostgreSQL
≤ 1.10 × local. Both end with 1,000 resources in state and a verifying
audit trail of 2,000 entries.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._common import CREDENTIALS, ApplyProject, cli_environ, configure_live, finish, llmplan_command, sandbox_process, timed  # noqa: E402
from tests.pg_server import running_postgres  # noqa: E402

NAME = "apply_1000_postgres"
MODELS = 1000
PARALLELISM = 10
LATENCY_MS = 50
GOAL_RATIO = 1.10


def make_project(directory: Path, url: str, backend: str, schema: str) -> ApplyProject:
    project = ApplyProject(directory, url, env="bench")
    project.write_environment(parallelism=PARALLELISM, max_change_percent=100)
    if backend == "postgres":
        with open(project.env_dir / "environment.yaml", "a", encoding="utf-8") as handle:
            handle.write(f"state:\n  backend: postgres\n  schema: {schema}\n")
    project.add_generated(MODELS, max_tokens=2048)
    return project


def one_apply(workdir: Path, url: str, backend: str, run: int, dsn: str) -> dict[str, Any]:
    configure_live(url, MODELS)  # every model back to max_tokens 1024: 1,000 updates again
    project = make_project(workdir / f"{backend}-{run}", url, backend, f"bench_{run}")
    environ = cli_environ({**CREDENTIALS, "LLMPLAN_PG_DSN": dsn})
    done = timed([*llmplan_command(), "apply", "--env", "bench", "--auto-approve", "--root", str(project.root)], environ=environ, timeout=600)
    if done.code != 0:
        raise SystemExit(f"{backend} apply exited {done.code}:\n{done.stderr[-2000:]}")
    shown = timed([*llmplan_command(), "state", "show", "--env", "bench", "--format", "json", "--root", str(project.root)], environ=environ)
    verified = timed([*llmplan_command(), "audit", "verify", "--env", "bench", "--root", str(project.root)], environ=environ)
    resources = len((json.loads(shown.stdout)["state"] or {}).get("resources", {}))
    return {"backend": backend, "seconds": round(done.seconds, 3), "resources": resources, "audit_verifies": verified.code == 0, "audit": verified.stdout.strip()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="llmplan-pg-bench-") as temp, running_postgres() as server:
        with sandbox_process("--no-catalog", "--models", str(MODELS), "--latency-ms", str(LATENCY_MS), "--rate-limit", "1000000") as sandbox:
            for run in range(options.runs):
                for backend in ("local", "postgres") if run % 2 == 0 else ("postgres", "local"):
                    result = one_apply(Path(temp), sandbox.url, backend, run, server.dsn)
                    print(f"  run {run + 1} {backend:8} {result['seconds']:.2f} s, {result['resources']} resources, {result['audit']}", flush=True)
                    results.append(result)
    local = statistics.median(r["seconds"] for r in results if r["backend"] == "local")
    postgres = statistics.median(r["seconds"] for r in results if r["backend"] == "postgres")
    ratio = postgres / local
    complete = all(r["resources"] == MODELS and r["audit_verifies"] for r in results)
    figure = f"PostgreSQL {postgres:.2f} s = {ratio:.2f} x local {local:.2f} s (1,000 updates, 50 ms, parallelism 10, median of {options.runs})"
    return finish(NAME, figure, f"<= {GOAL_RATIO} x, every record complete", ratio <= GOAL_RATIO and complete, {"runs": results, "local_seconds": local, "postgres_seconds": postgres, "ratio": round(ratio, 3)})


if __name__ == "__main__":
    raise SystemExit(main())

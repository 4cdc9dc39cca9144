"""`llmplan apply` of 1,000 models with the PostgreSQL records backend and with local files, against the same bound as apply_1000.

Run from the repository root (about a minute):

    .venv/bin/python -m benchmarks.apply_1000_postgres [--runs 3] [--models N]

The sandbox (its own process) answers after 50 ms with no rate limit that
matters; its 1,000 models are configured (max_tokens 1024) and the YAML says
2048, so each apply is 1,000 updates at parallelism 10. A PostgreSQL server
is started for the run (tests/pg_server.py: Debian's binaries, or the
pgserver wheel), on 127.0.0.1 with password authentication and fsync on,
unless ``--dsn`` names one (its tests use their own).
Each backend applies ``--runs`` times, alternately, each time to fresh live
configurations and a fresh schema or folder; the figures are the medians.
Bound, as apply_1000's latency-bound case: the measured start-up (``llmplan
apply --help``, median) + N x RTT / P = 5 s. Goals: each backend ≤ 1.10 x the
bound; both end with 1,000 resources in state and a verifying audit trail of
2,000 entries. PostgreSQL's time beside local files' is shown too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import uuid
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from benchmarks._common import CREDENTIALS, ApplyProject, cli_environ, configure_live, finish, llmplan_command, llmplan_startup, ratio_line, sandbox_process, timed  # noqa: E402
from tests.pg_server import running_postgres  # noqa: E402

NAME = "apply_1000_postgres"
MODELS = 1000
PARALLELISM = 10
LATENCY_MS = 50
GOAL_RATIO = 1.10


def make_project(directory: Path, url: str, backend: str, schema: str, models: int) -> ApplyProject:
    project = ApplyProject(directory, url, env="bench")
    project.write_environment(parallelism=PARALLELISM, max_change_percent=100)
    if backend == "postgres":
        with open(project.env_dir / "environment.yaml", "a", encoding="utf-8") as handle:
            handle.write(f"state:\n  backend: postgres\n  schema: {schema}\n")
    project.add_generated(models, max_tokens=2048)
    return project


def one_apply(workdir: Path, url: str, backend: str, run: int, dsn: str, models: int) -> dict[str, Any]:
    configure_live(url, models)  # every model back to max_tokens 1024: 1,000 updates again
    project = make_project(workdir / f"{backend}-{run}", url, backend, f"bench_{uuid.uuid4().hex[:8]}_{run}", models)  # a server of its own or not: a schema of its own
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
    parser.add_argument("--models", type=int, default=MODELS)
    parser.add_argument("--output", type=Path, help="where the results go (default benchmarks/results/apply_1000_postgres.json)")
    parser.add_argument("--dsn", help="a PostgreSQL server to use instead of starting one (postgresql://user:password@127.0.0.1:port/database)")
    options = parser.parse_args()
    startup = llmplan_startup("apply")
    bound = startup + options.models * LATENCY_MS / 1000 / PARALLELISM
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="llmplan-pg-bench-") as temp, (nullcontext(None) if options.dsn else running_postgres()) as server:
        dsn = options.dsn or server.dsn
        with sandbox_process("--no-catalog", "--latency-ms", str(LATENCY_MS), "--rate-limit", "100000000") as sandbox:
            for run in range(options.runs):
                for backend in ("local", "postgres") if run % 2 == 0 else ("postgres", "local"):
                    result = one_apply(Path(temp), sandbox.url, backend, run, dsn, options.models)
                    print(f"  run {run + 1} {backend:8} {result['seconds']:.2f} s = {result['seconds'] / bound:.2f} x the bound, {result['resources']} resources, {result['audit']}", flush=True)
                    results.append(result)
    local = statistics.median(r["seconds"] for r in results if r["backend"] == "local")
    postgres = statistics.median(r["seconds"] for r in results if r["backend"] == "postgres")
    complete = all(r["resources"] == options.models and r["audit_verifies"] for r in results)
    what = f"start-up {startup:.2f} s + {options.models} x 50 ms / {PARALLELISM}"
    figure = (
        f"PostgreSQL {ratio_line(postgres, bound, what)}, local files {local:.2f} s = {local / bound:.2f} x; "
        f"PostgreSQL = {postgres / local:.2f} x local (median of {options.runs})"
    )
    ok = postgres <= GOAL_RATIO * bound and local <= GOAL_RATIO * bound and complete
    summary = {"runs": results, "startup_seconds": round(startup, 3), "bound_seconds": round(bound, 3), "local_seconds": local, "postgres_seconds": postgres,
               "local_ratio": round(local / bound, 3), "postgres_ratio": round(postgres / bound, 3), "postgres_to_local": round(postgres / local, 3)}
    return finish(NAME, figure, f"<= {GOAL_RATIO} x the bound on both backends, every record complete", ok, summary, output=options.output)


if __name__ == "__main__":
    raise SystemExit(main())

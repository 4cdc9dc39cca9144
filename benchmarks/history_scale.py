"""History scale: every command's cost must not grow with the length of the audit trail.

Run from the repository root (about a minute, most of it writing a
million-entry trail):

    .venv/bin/python -m benchmarks.history_scale [--entries 1000000] [--history 80000]

Three measurements, each against its goal:

1. **A 1-model apply, before and after a long history.** A project of 200
   models applied in bulk (400 audit lines) applies one changed model, three
   times; then its trail is grown to ``--history`` lines (40,000 changes:
   a pending and a success entry each, chained exactly as apply chains
   them, and checkpointed) and the same 1-model apply runs three times
   more. Goal: the median after the history is ≤ 1.2 × the median before,
   and the peak memory (max RSS of the llmplan process) at most 50 MB
   higher.
2. **``llmplan plan`` after a failed apply, before and after a long
   history.** An apply that changes one model (its state commit vouches for
   the state, at the end of the trail), then an apply whose only change the
   gateway refuses (entries after the vouching one, no new state), then
   ``plan`` three times; once on the short trail, once after growing it to
   ``--history`` lines *before* those two applies. Goal as in 1: ≤ 1.2 × and
   ≤ +50 MB (finding the vouching entry reads one line, wherever it is).
3. **``llmplan audit verify`` of ``--entries`` entries** (1,000,000), the
   one command that reads the whole trail. Goal: < 20 s and < 100 MB.

The history is written in bulk rather than by 40,000 real applies (hours of
fsyncs), with the same entry shapes, hashes and checkpoint apply writes; a
test in tests/records checks that such a trail verifies.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

from benchmarks._common import ApplyProject, SandboxAdmin, cli_environ, configure_live, finish, llmplan_command, measured, model_yaml, sandbox_process
from planner.adapters.records.chain import GENESIS_HASH
from planner.adapters.records.local_audit import LocalAuditTrail
from planner.model.catalog import generated_model_id
from planner.model.configuration import canonical_json, sha256_hex

NAME = "history_scale"
MODELS = 200
RUNS = 3
RATIO_GOAL = 1.2
MEMORY_GOAL_MB = 50
VERIFY_SECONDS_GOAL = 20.0
VERIFY_MB_GOAL = 100


def history_entries(count: int, previous: str, environment: str) -> Iterator[tuple[str, str]]:
    """``count`` audit lines of configuration updates (pending, then success), chained after ``previous``."""
    template = {
        "action": "configuration_update",
        "compliance_mode": "standard",
        "environment": environment,
        "latency_ms": 41.5,
        "payload_hash": "ab" * 32,
        "plan_checksum": "cd" * 32,
    }
    operation = ""
    for number in range(count):
        index = 1 + number // 2 % MODELS
        if number % 2 == 0:
            operation = str(uuid.UUID(int=number + 1))
        entry: dict[str, Any] = {
            **template,
            "address": f"bench-{index:05d}",
            "audit_id": str(uuid.UUID(int=(1 << 64) + number)),
            "model_id": generated_model_id(index),
            "operation_id": operation,
            "status": "pending" if number % 2 == 0 else "success",
            "timestamp": "2026-11-20T10:00:00.000Z",
            "prev_hash": previous,
        }
        if number % 2:
            entry["version"] = number
        entry["entry_hash"] = sha256_hex(canonical_json(entry))
        previous = entry["entry_hash"]
        yield canonical_json(entry) + "\n", previous


def grow_trail(path: Path, count: int, environment: str) -> None:
    """Append ``count`` chained lines in one buffered write, then checkpoint as apply does."""
    audit = LocalAuditTrail(path, environment=environment)
    last = GENESIS_HASH
    if path.exists() and path.stat().st_size:
        last = json.loads(path.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1])["entry_hash"]
    with open(path, "a", encoding="utf-8", buffering=1 << 20) as handle:
        for line, _ in history_entries(count, last, environment):
            handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
    audit.checkpoint()


def one_model_applies(project: ApplyProject, runs: int, start: int) -> list[tuple[float, float]]:
    """(seconds, peak MB) of ``runs`` applies that each change one model's max_tokens."""
    environ = {key: value for key, value in project.child_environ().items()}
    results = []
    for run in range(runs):
        tokens = 1024 if run % 2 else 1025 + start + run
        project.write_model("bench-00001", project_model(tokens))
        done = measured([*llmplan_command(), "apply", "--env", project.env, "--auto-approve", "--root", str(project.root)], environ=environ)
        if done.code != 0:
            raise SystemExit(f"apply exited {done.code}:\n{done.stderr}")
        results.append((done.seconds, done.peak_rss_mb))
    return results


def project_model(max_tokens: int) -> str:
    return model_yaml(generated_model_id(1), max_tokens=max_tokens)


def apply_before_and_after(workdir: Path, history: int) -> dict[str, Any]:
    with sandbox_process() as sandbox:
        configure_live(sandbox.url, MODELS)
        project = ApplyProject(workdir / "project", sandbox.url)
        project.add_generated(MODELS, max_tokens=2048)
        bulk = project.apply()
        assert bulk.code == 0, bulk
        before_lines = sum(1 for _ in open(project.state_dir / "audit.jsonl", "rb"))
        before = one_model_applies(project, RUNS, 0)
        grow_trail(project.state_dir / "audit.jsonl", history, project.env)
        after_lines = sum(1 for _ in open(project.state_dir / "audit.jsonl", "rb"))
        after = one_model_applies(project, RUNS, 100)
        verify = subprocess.run([*llmplan_command(), "audit", "verify", "--env", project.env, "--root", str(project.root)], env=project.child_environ(), capture_output=True, text=True, check=False)
        assert verify.returncode == 0, verify.stderr
    return {"models": MODELS, **compared(before, after, before_lines, after_lines)}


def compared(before: list[tuple[float, float]], after: list[tuple[float, float]], before_lines: int, after_lines: int) -> dict[str, Any]:
    """Runs (seconds, peak MB) at a short and a long history, side by side, with the ratio of their medians."""
    before_seconds = statistics.median(seconds for seconds, _ in before)
    after_seconds = statistics.median(seconds for seconds, _ in after)
    return {
        "lines_before": before_lines,
        "lines_after": after_lines,
        "before_seconds": [round(seconds, 3) for seconds, _ in before],
        "after_seconds": [round(seconds, 3) for seconds, _ in after],
        "before_peak_mb": round(max(peak for _, peak in before), 1),
        "after_peak_mb": round(max(peak for _, peak in after), 1),
        "ratio": round(after_seconds / before_seconds, 3),
    }


def plans_after_a_failed_apply(project: ApplyProject, admin: SandboxAdmin, runs: int, tokens: int) -> list[tuple[float, float]]:
    """(seconds, peak MB) of ``runs`` plans made after an apply that landed and one the gateway refused."""
    project.write_model("bench-00001", project_model(tokens))
    done = measured([*llmplan_command(), "apply", "--env", project.env, "--auto-approve", "--root", str(project.root)], environ=project.child_environ())
    if done.code != 0:
        raise SystemExit(f"apply exited {done.code}:\n{done.stderr}")
    project.write_model("bench-00002", model_yaml(generated_model_id(2), max_tokens=tokens))
    admin.faults(rules=[admin.fail_puts(generated_model_id(2), 400)])
    done = measured([*llmplan_command(), "apply", "--env", project.env, "--auto-approve", "--root", str(project.root)], environ=project.child_environ())
    admin.clear_faults()
    if done.code != 1:
        raise SystemExit(f"the refused apply exited {done.code}, not 1:\n{done.stderr}")
    results = []
    for _ in range(runs):
        done = measured([*llmplan_command(), "plan", "--env", project.env, "--root", str(project.root)], environ=project.child_environ())
        if done.code != 0:
            raise SystemExit(f"plan exited {done.code}:\n{done.stderr}")
        results.append((done.seconds, done.peak_rss_mb))
    return results


def plan_before_and_after(workdir: Path, history: int) -> dict[str, Any]:
    with sandbox_process() as sandbox:
        configure_live(sandbox.url, MODELS)
        admin = SandboxAdmin(sandbox.url)
        project = ApplyProject(workdir / "failed", sandbox.url)
        project.add_generated(MODELS, max_tokens=2048)
        assert project.apply().code == 0
        before = plans_after_a_failed_apply(project, admin, RUNS, 1111)
        before_lines = sum(1 for _ in open(project.state_dir / "audit.jsonl", "rb"))
        grow_trail(project.state_dir / "audit.jsonl", history, project.env)
        after = plans_after_a_failed_apply(project, admin, RUNS, 1222)
        after_lines = sum(1 for _ in open(project.state_dir / "audit.jsonl", "rb"))
    return compared(before, after, before_lines, after_lines)


def verify_million(workdir: Path, entries: int) -> dict[str, Any]:
    root = workdir / "verify"
    (root / "environments" / "history" / "models").mkdir(parents=True)
    (root / "environments" / "history" / "environment.yaml").write_text("gateway:\n  sandbox: true\n", encoding="utf-8")
    trail = root / "state" / "history" / "audit.jsonl"
    trail.parent.mkdir(parents=True)
    began = time.monotonic()
    grow_trail(trail, entries, "history")
    written = time.monotonic() - began
    done = measured([*llmplan_command(), "audit", "verify", "--env", "history", "--root", str(root)], environ=cli_environ())
    if done.code != 0:
        raise SystemExit(f"audit verify exited {done.code}:\n{done.stderr}")
    return {"entries": entries, "bytes": trail.stat().st_size, "write_seconds": round(written, 1), "verify_seconds": round(done.seconds, 2), "verify_peak_mb": round(done.peak_rss_mb, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries of the trail audit verify reads")
    parser.add_argument("--history", type=int, default=80_000, help="audit lines added before the second 1-model apply")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmplan-history-") as temp:
        workdir = Path(temp)
        applies = apply_before_and_after(workdir, options.history)
        print(
            f"1-model apply: {statistics.median(applies['before_seconds']):.3f} s with {applies['lines_before']} audit lines, "
            f"{statistics.median(applies['after_seconds']):.3f} s with {applies['lines_after']} (ratio {applies['ratio']:.2f}); "
            f"peak {applies['before_peak_mb']:.0f} MB → {applies['after_peak_mb']:.0f} MB",
            flush=True,
        )
        plans = plan_before_and_after(workdir, options.history)
        print(
            f"plan after a failed apply: {statistics.median(plans['before_seconds']):.3f} s with {plans['lines_before']} audit lines, "
            f"{statistics.median(plans['after_seconds']):.3f} s with {plans['lines_after']} (ratio {plans['ratio']:.2f}); "
            f"peak {plans['before_peak_mb']:.0f} MB → {plans['after_peak_mb']:.0f} MB",
            flush=True,
        )
        verify = verify_million(workdir, options.entries)
        print(f"audit verify of {verify['entries']:,} entries ({verify['bytes'] / 1e6:.0f} MB): {verify['verify_seconds']:.1f} s, peak {verify['verify_peak_mb']:.0f} MB", flush=True)
    grown = applies["after_peak_mb"] - applies["before_peak_mb"]
    plan_grown = plans["after_peak_mb"] - plans["before_peak_mb"]
    ok = (
        applies["ratio"] <= RATIO_GOAL
        and grown <= MEMORY_GOAL_MB
        and plans["ratio"] <= RATIO_GOAL
        and plan_grown <= MEMORY_GOAL_MB
        and verify["verify_seconds"] < VERIFY_SECONDS_GOAL
        and verify["verify_peak_mb"] < VERIFY_MB_GOAL
    )
    figure = (
        f"1-model apply at {applies['lines_after']:,} lines = {applies['ratio']:.2f} x the time at {applies['lines_before']} "
        f"(+{grown:.0f} MB); plan after a failed apply {plans['ratio']:.2f} x (+{plan_grown:.0f} MB); "
        f"audit verify of {verify['entries']:,} in {verify['verify_seconds']:.1f} s, {verify['verify_peak_mb']:.0f} MB"
    )
    goal = f"<= {RATIO_GOAL} x and <= +{MEMORY_GOAL_MB} MB (both); < {VERIFY_SECONDS_GOAL:g} s and < {VERIFY_MB_GOAL} MB"
    return finish(NAME, figure, goal, ok, {"apply": applies, "plan_after_failed_apply": plans, "verify": verify})


if __name__ == "__main__":
    raise SystemExit(main())

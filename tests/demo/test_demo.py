"""`make demo` runs the whole loop and exits 0 (issue: the demo is the first thing a newcomer runs)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow(reason="the README's demo end to end: a dozen llmplan runs and the sandbox as child processes")
def test_the_demo_runs_the_whole_loop_and_exits_0(tmp_path: Path) -> None:
    shutil.copytree(REPO / "environments", tmp_path / "environments")
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "demo.py"), "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # each of the eleven steps is announced, in order
    positions = [out.index(f"[{n}/11]") for n in range(1, 12)]
    assert positions == sorted(positions)
    assert "Plan: 5 to create, 0 to update, 0 to forget." in out
    assert "No changes." in out
    assert "live changed outside llmplan" in out
    assert "~ max_tokens: 1024 → 2048" in out
    assert "No drift" in out
    assert "chain intact" in out
    # the governance receiver verified every event's Standard Webhooks signature
    assert "governance receiver: 5 event(s) received, 5 verified" in out
    assert out.count("  verified  llm_config_change success  ") == 5
    # and the records are where the README says
    for name in ("state.json", "audit.jsonl", "metrics.prom"):
        assert (tmp_path / "state" / "dev" / name).is_file()

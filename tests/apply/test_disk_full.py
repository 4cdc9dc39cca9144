"""A full disk mid-apply: exit 1 naming the path, no traceback, and the next apply converges.

The state folder is a small tmpfs (mounted by the test, which runs as root in
CI and here), so the disk really fills: ENOSPC comes from the kernel, at
whatever write it comes. Where mounting is not allowed, the test says so
and fails rather than skipping.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest

from tests.apply.project import ApplyProject, SandboxAdmin


@pytest.fixture
def small_disk(project: ApplyProject) -> Iterator[Path]:
    """``state/`` of the project on a 48 KiB tmpfs: enough for a few changes, not for 40."""
    state = project.root / "state"
    state.mkdir(exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(state)], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.fail(f"this test needs to mount a small tmpfs (run it as root, as CI does): {mounted.stderr.strip()}")
    try:
        yield state
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def test_a_disk_that_fills_mid_apply_ends_it_naming_the_path_and_the_next_apply_converges(project: ApplyProject, admin: SandboxAdmin, small_disk: Path) -> None:
    project.add_generated(40)
    full = project.run("apply", "--env", "dev", "--auto-approve")

    assert full.code == 1, str(full)
    assert "No space left on device" in full.stderr and str(small_disk / "dev") in full.stderr, str(full)
    assert "free space on that disk (or make the folder writable) and run the command again" in full.stderr
    assert "Traceback" not in full.stderr
    assert len(admin.puts(status=200)) < 40  # it stopped sending once the records refused a write

    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)  # space freed
    again = project.run("apply", "--env", "dev", "--auto-approve")
    assert again.code == 0, str(again)
    landed = Counter(admin.model_of(put) for put in admin.puts(status=200))
    successes = Counter(entry["model_id"] for entry in project.audit() if entry["action"] == "configuration_update" and entry["status"] == "success")
    assert successes == landed and sum(landed.values()) == 40  # each landing recorded once
    assert project.run("audit", "verify", "--env", "dev").code == 0
    assert project.run("plan", "--env", "dev", "--detailed-exitcode").code == 0

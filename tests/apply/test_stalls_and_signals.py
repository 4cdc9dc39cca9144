"""Nothing outside llmplan can hang it: the real CLI against the real sandbox and
peers that stall on 127.0.0.1 (``tests/stalling_peers.py``), as a CI job meets them.

- SIGTERM (a cancelled CI job) and Ctrl-C end plan and apply within 5 s,
  whatever they wait on: a token being trickled, PUT answers being trickled,
  a governance receiver that trickles.  What landed is recorded or left
  pending for the next run, which converges.
- A governance receiver that is silent or trickles holds apply no longer
  than its deadline (``governance.timeout_seconds``): apply exits 0 and
  the events wait in the outbox.

Bounds are the promise (5 s for a signal) or the configured deadline plus
generous slack, never a measured time.
"""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import tests.stalling_peers as peers
from tests.apply.crash_checks import check_records_converge
from tests.apply.project import ApplyProject, SandboxAdmin

SIGNAL_WITHIN = 5.0  # the promise: SIGTERM and Ctrl-C end any command within 5 s


def put(method: str, path: str) -> bool:
    return method == "PUT"


def receiver_deadline(project: ApplyProject, seconds: float) -> None:
    path = project.env_dir / "environment.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("timeout_seconds: 5", f"timeout_seconds: {seconds:g}"), encoding="utf-8")


@pytest.mark.parametrize(("sig", "code", "said"), [(signal.SIGTERM, 143, "Terminated."), (signal.SIGINT, 130, "Interrupted.")])
def test_a_signal_ends_plan_within_5_s_while_the_gateway_trickles_its_answer(tmp_path: Path, sig: int, code: int, said: str) -> None:
    with peers.trickling() as gateway:
        project = ApplyProject(tmp_path / "project", gateway.url)
        project.add_generated(3)
        child = project.start("plan", "--env", "dev")  # the default deadlines: 15 s an attempt, 30 s in all
        assert gateway.reached.wait(60), "plan never reached the gateway"
        done, elapsed = child.signal_and_finish(sig)
    assert done.code == code, str(done)
    assert done.stderr.rstrip().endswith(said) and "Traceback" not in done.stderr, str(done)
    assert elapsed < SIGNAL_WITHIN, elapsed


def test_sigterm_ends_an_apply_whose_put_answers_trickle_within_5_s_and_the_next_run_settles_them(tmp_path: Path, sandbox: Any, admin: SandboxAdmin) -> None:
    with peers.trickling_proxy(sandbox.url, put) as gateway:  # the sandbox applies each PUT; its answer comes back a byte at a time
        project = ApplyProject(tmp_path / "project", gateway.url, webhook_url=f"{sandbox.url}/__sandbox/webhook")
        written = project.add_generated(8)
        child = project.start("apply", "--env", "dev", "--auto-approve")  # parallelism 4
        assert gateway.reached.wait(60), "apply never sent a PUT"
        done, elapsed = child.signal_and_finish(signal.SIGTERM)
    assert done.code == 143, str(done)
    assert "Terminated." in done.stderr and "Traceback" not in done.stderr, str(done)
    assert elapsed < SIGNAL_WITHIN, elapsed
    accepted = Counter(admin.model_of(request) for request in admin.puts(status=200))
    assert 0 < sum(accepted.values()) <= 4  # the PUTs in flight landed; nothing new was sent after the signal
    assert "Apply interrupted: 0 succeeded, 0 failed, " in done.stdout  # cut off: their outcome is unknown, never a failure
    assert "outcome(s) unknown" in done.stdout
    # the same project pointed at the sandbox itself: the next apply settles the cut PUTs by reading them back, and converges
    project.gateway_url = sandbox.url
    project.write_environment()
    check_records_converge(project, admin, written, accepted)


@pytest.mark.parametrize("stall", [peers.silent, peers.trickling], ids=["silent receiver", "trickling receiver"])
def test_a_stalled_receiver_holds_apply_no_longer_than_its_deadline(tmp_path: Path, sandbox: Any, admin: SandboxAdmin, stall: Any) -> None:
    deadline = 1.0
    with stall() as receiver:
        project = ApplyProject(tmp_path / "project", sandbox.url, webhook_url=receiver.url, signed=False)
        receiver_deadline(project, deadline)
        project.add_generated(8)
        started = time.monotonic()
        done = project.start("apply", "--env", "dev", "--auto-approve").finish()
        elapsed = time.monotonic() - started
    assert done.code == 0, str(done)  # a webhook never fails the apply
    assert "Apply complete: 8 succeeded, 0 failed, 0 not attempted." in done.stdout, str(done)
    assert "Governance: 8 event(s) not delivered yet, kept in the outbox; run `llmplan governance flush --env dev`." in done.stdout + done.stderr
    assert len(admin.puts(status=200)) == 8
    # one delivery per worker up to the deadline, then the receiver is paused; one more try at the end
    assert elapsed < 2 * deadline + 10, elapsed


def test_sigterm_ends_an_apply_whose_workers_wait_on_a_trickling_receiver_within_5_s(tmp_path: Path, sandbox: Any, admin: SandboxAdmin) -> None:
    with peers.trickling() as receiver:
        project = ApplyProject(tmp_path / "project", sandbox.url, webhook_url=receiver.url, signed=False)
        receiver_deadline(project, 30)  # long: the signal, not the deadline, must end it
        project.add_generated(8)
        child = project.start("apply", "--env", "dev", "--auto-approve")
        assert receiver.reached.wait(60), "apply never delivered an event"
        done, elapsed = child.signal_and_finish(signal.SIGTERM)
    assert done.code == 143, str(done)
    assert elapsed < SIGNAL_WITHIN, elapsed
    # every landed PUT is recorded once, as a success: delivery was cut, not the records
    accepted = Counter(admin.model_of(request) for request in admin.puts(status=200))
    successes = Counter(entry["model_id"] for entry in project.audit() if entry["status"] == "success")
    assert successes == accepted and sum(accepted.values()) > 0


def test_a_receiver_that_trickles_holds_no_put_and_apply_ends_after_its_delivery_time(tmp_path: Path, sandbox: Any, admin: SandboxAdmin) -> None:
    """Events go out on a thread of their own: every PUT lands while the first delivery is still
    trickling (a 30 s delivery deadline), and apply ends after deliver_after_apply_seconds, not 30 s."""
    with peers.trickling() as receiver:
        project = ApplyProject(tmp_path / "project", sandbox.url, webhook_url=receiver.url, signed=False)
        receiver_deadline(project, 30)
        with open(project.env_dir / "environment.yaml", "a", encoding="utf-8") as settings:
            settings.write("  deliver_after_apply_seconds: 5\n")  # appended to the governance block, the file's last
        project.add_generated(12)
        started = time.monotonic()
        done = project.start("apply", "--env", "dev", "--auto-approve").finish()
        elapsed = time.monotonic() - started
        delivered_to = len(receiver.requests)
    assert done.code == 0, str(done)
    assert "Apply complete: 12 succeeded, 0 failed, 0 not attempted." in done.stdout, str(done)
    assert "Governance: 12 event(s) not delivered yet, kept in the outbox; run `llmplan governance flush --env dev`." in done.stdout + done.stderr
    assert len(admin.puts(status=200)) == 12
    assert delivered_to == 1  # one delivery at a time, and none started after the first was cut
    said = re.search(rf"waiting up to ([\d.]+) s more for the governance receiver at {re.escape(receiver.url)} \(events still being delivered\)", done.stderr)
    assert said is not None and float(said.group(1)) <= 2.0, str(done)  # said once 3 of its 5 s had passed
    assert elapsed < 30, elapsed  # the receiver's deadline was never waited out

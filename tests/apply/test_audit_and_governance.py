"""The audit trail after real applies detects any edit, removal or reorder;
a governance receiver that is down never fails an apply, and its events are
delivered later, once."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.apply.project import ApplyProject, SandboxAdmin


@pytest.fixture
def applied(project: ApplyProject) -> ApplyProject:
    """Two applies (4 creates, then 2 updates), each ending with the state commit that vouches for its state: 14 chained entries."""
    project.add_generated(4)
    project.apply()
    project.edit_model("bench-00002", "max_tokens: 1024", "max_tokens: 2000")
    project.edit_model("bench-00003", "max_tokens: 1024", "max_tokens: 2000")
    project.apply()
    assert len(project.audit_lines()) == 14
    return project


def rewrite(project: ApplyProject, lines: list[bytes]) -> None:
    (project.state_dir / "audit.jsonl").write_bytes(b"".join(lines))


def edit_line(lines: list[bytes]) -> list[bytes]:
    entry = json.loads(lines[4])
    entry["status"] = "failure" if entry["status"] == "success" else "success"
    return [*lines[:4], (json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n").encode(), *lines[5:]]


TAMPERING: list[tuple[str, Callable[[list[bytes]], list[bytes]], str]] = [
    ("edit line 5", edit_line, "line 5: entry_hash does not match its content (edited?)"),
    ("delete line 5", lambda lines: lines[:4] + lines[5:], "line 5: prev_hash does not match line 4 (a line was removed, inserted or reordered)"),
    ("swap lines 5 and 6", lambda lines: [*lines[:4], lines[5], lines[4], *lines[6:]], "line 5: prev_hash does not match line 4"),
    ("delete the first line", lambda lines: lines[1:], "line 1: prev_hash is not the start of a chain"),
    ("delete the last two lines", lambda lines: lines[:-2], "line 13: missing: audit.jsonl.head records 14 entries but the log has 12"),
    ("duplicate line 3", lambda lines: [*lines[:3], lines[2], *lines[3:]], "line 4: prev_hash does not match line 3"),
]


@pytest.mark.parametrize("name, tamper, expected", TAMPERING, ids=[case[0] for case in TAMPERING])
def test_tampering_with_the_trail_is_detected_naming_the_line(applied: ApplyProject, name: str, tamper: Callable[[list[bytes]], list[bytes]], expected: str) -> None:
    assert applied.run("audit", "verify", "--env", "dev").code == 0
    rewrite(applied, tamper(applied.audit_lines()))

    verify = applied.run("audit", "verify", "--env", "dev")

    assert verify.code == 1, str(verify)
    assert f"Error: audit trail of dev does not verify: {expected}" in verify.stderr
    repair = applied.run("audit", "verify", "--env", "dev", "--repair")
    assert repair.code == 1, "tampering is not a torn line: --repair must not paper over it"


def test_audit_verify_json_is_one_document_whether_the_chain_holds_or_not(applied: ApplyProject) -> None:
    verified = applied.run("audit", "verify", "--env", "dev", "--format", "json")
    assert verified.code == 0, str(verified)
    assert json.loads(verified.stdout) == {
        "environment": "dev", "ok": True, "entries": 14, "first_bad_line": None, "problem": None, "torn_tail": False, "repaired": None, "error": None, "hint": None,
    }

    rewrite(applied, edit_line(applied.audit_lines()))
    broken = applied.run("audit", "verify", "--env", "dev", "--format", "json")

    assert broken.code == 1, str(broken)
    document = json.loads(broken.stdout)  # one document, not an error document beside it
    assert (document["ok"], document["first_bad_line"], document["problem"]) == (False, 5, "line 5: entry_hash does not match its content (edited?)")
    assert document["entries"] == 5  # read up to the first bad line
    assert document["error"] == "audit trail of dev does not verify: line 5: entry_hash does not match its content (edited?)"
    assert document["hint"] == "restore the trail from a backup (or Git history); do not edit it by hand"
    assert "Error: audit trail of dev does not verify: line 5" in broken.stderr


def test_an_apply_refuses_to_chain_onto_a_tampered_end_of_the_trail(applied: ApplyProject, admin: SandboxAdmin) -> None:
    lines = applied.audit_lines()
    rewrite(applied, [*lines[:13], *edit_line([b"", b"", b"", b"", lines[13]])[4:]])  # the checkpointed last entry
    applied.edit_model("bench-00001", "max_tokens: 1024", "max_tokens: 3000")
    admin.clear_requests()
    done = applied.run("apply", "--env", "dev", "--auto-approve")
    assert done.code == 1, str(done)
    assert "audit trail of dev does not verify: line 14" in done.stderr
    assert admin.puts() == []


def test_an_edit_deep_in_history_is_for_audit_verify_not_every_apply(applied: ApplyProject, admin: SandboxAdmin) -> None:
    """Commands check the trail from the last checkpoint on (their cost must not grow
    with history); `audit verify` reads it all and still names the edited line."""
    rewrite(applied, edit_line(applied.audit_lines()))
    applied.edit_model("bench-00001", "max_tokens: 1024", "max_tokens: 3000")
    assert applied.run("apply", "--env", "dev", "--auto-approve").code == 0
    verify = applied.run("audit", "verify", "--env", "dev")
    assert verify.code == 1, str(verify)
    assert "does not verify: line 5: entry_hash does not match its content" in verify.stderr


def test_a_torn_last_line_is_reported_and_repaired(applied: ApplyProject) -> None:
    lines = applied.audit_lines()
    rewrite(applied, [*lines, lines[0][:37]])  # a crash in the middle of an append
    verify = applied.run("audit", "verify", "--env", "dev")
    assert verify.code == 1 and "line 15: torn last line" in verify.stderr, str(verify)
    assert "--repair" in verify.stderr
    repaired = applied.run("audit", "verify", "--env", "dev", "--repair")
    assert repaired.code == 0, str(repaired)
    assert "15 entries, chain intact" in repaired.stdout  # 14 + the repair's own entry
    assert (applied.state_dir / "audit.jsonl.torn").read_bytes() == lines[0][:37] + b"\n"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("receiver", ["closed port", "answers 500"])
def test_a_receiver_that_is_down_never_fails_the_apply_and_flush_delivers_once(receiver: str, tmp_path: Path, sandbox: Any, admin: SandboxAdmin) -> None:
    webhook = f"http://127.0.0.1:{closed_port()}/hooks/llm" if receiver == "closed port" else f"{sandbox.url}/__sandbox/webhook"
    project = ApplyProject(tmp_path / "project", sandbox.url, webhook_url=webhook)
    project.add_generated(3)
    if receiver == "answers 500":
        admin.faults(rules=[{"match": {"method": "POST", "path": "/__sandbox/webhook"}, "effect": "status", "status": 500}])

    done = project.run("apply", "--env", "dev", "--auto-approve")

    assert done.code == 0, str(done)
    assert "Apply complete: 3 succeeded, 0 failed, 0 not attempted." in done.stdout
    assert "Governance: 3 event(s) not delivered yet, kept in the outbox; run `llmplan governance flush --env dev`." in done.stderr
    outbox = [json.loads(line) for line in (project.state_dir / "outbox.jsonl").read_text(encoding="utf-8").splitlines()]
    successes = [entry for entry in project.audit() if entry["status"] == "success"]
    assert sorted(event["event_id"] for event in outbox) == sorted(entry["audit_id"] for entry in successes)
    assert admin.deliveries() == []

    still_down = project.run("governance", "flush", "--env", "dev")
    assert still_down.code == 1 and "3 still queued" in still_down.stdout, str(still_down)

    # the receiver comes back
    if receiver == "closed port":
        project.webhook_url = f"{sandbox.url}/__sandbox/webhook"
        project.write_environment()
    else:
        admin.clear_faults()
    flushed = project.run("governance", "flush", "--env", "dev")
    assert flushed.code == 0, str(flushed)
    assert "governance: 3 delivered, 0 failed, 0 still queued" in flushed.stdout
    delivered = [admin.verified_event(d)["event_id"] for d in admin.deliveries()]  # signed when sent, so a late flush verifies
    assert sorted(delivered) == sorted(entry["audit_id"] for entry in successes)  # each exactly once

    again = project.run("governance", "flush", "--env", "dev")
    assert again.code == 0 and "governance: 0 delivered, 0 failed, 0 still queued" in again.stdout, str(again)
    assert len(admin.deliveries()) == 3


def test_a_missing_signing_secret_is_refused_before_anything_changes(project: ApplyProject, admin: SandboxAdmin) -> None:
    project.add_generated(1)
    done = project.run("apply", "--env", "dev", "--auto-approve", env={"LLMPLAN_TEST_WEBHOOK_SECRET": None})
    assert done.code == 1, str(done)
    assert "governance.secret_env names LLMPLAN_TEST_WEBHOOK_SECRET, but that environment variable is not set" in done.stderr
    assert admin.puts() == []


def test_an_apply_after_a_crash_torn_line_sets_it_aside_and_goes_on(applied: ApplyProject, admin: SandboxAdmin) -> None:
    lines = applied.audit_lines()
    rewrite(applied, [*lines, lines[0][:37]])
    applied.edit_model("bench-00001", "max_tokens: 1024", "max_tokens: 3000")

    done = applied.run("apply", "--env", "dev", "--auto-approve")

    assert done.code == 0, str(done)
    assert "Note: audit trail: line 15: torn last line" in done.stderr
    assert "moved to audit.jsonl.torn" in done.stderr
    verify = applied.run("audit", "verify", "--env", "dev")
    assert verify.code == 0 and "18 entries, chain intact" in verify.stdout, str(verify)  # 14 + repair + pending + success + state commit

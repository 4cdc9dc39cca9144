"""A clean apply: what the user finds afterwards in state, audit trail,
governance receiver and metrics, and that the next plan is empty."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

from planner.model.catalog import generated_models
from tests.apply.project import ApplyProject, SandboxAdmin, expected_payload, model_config, sha256_of_canonical


def test_apply_records_state_audit_webhooks_and_metrics_and_converges(project: ApplyProject, admin: SandboxAdmin) -> None:
    models = project.add_generated(5)  # bench-00001 … bench-00005
    # bench-00004 is configured live with other values (an update), bench-00005 exactly as the YAML says (no change)
    spec4, spec5 = generated_models(5)[3:5]
    admin.add_models(
        {**spec4, "configuration": model_config(spec4["id"], max_tokens=512)},
        {**spec5, "configuration": expected_payload(spec5["id"])},
    )

    # the YAML's pii threshold 80 is above the live 70: a weakening, which needs its own yes (tests/apply/test_weakening.py)
    done = project.run("apply", "--env", "dev", "--auto-approve", "--allow-weakening")

    assert done.code == 0, str(done)
    assert "Plan: 3 to create, 1 to update, 0 to forget." in done.stdout
    assert "Apply complete: 4 succeeded, 0 failed, 0 not attempted." in done.stdout
    assert "metrics: 4 requests (3 creates, 1 update), 4 succeeded, 0 failed (success rate 100.0 %)" in done.stdout

    # state: the server's version of every model, the configuration it answered with
    state = project.state_document()
    assert state is not None and state["serial"] == 1
    expected_versions = {"bench-00001": 1, "bench-00002": 1, "bench-00003": 1, "bench-00004": 2, "bench-00005": 1}
    assert {address: resource["version"] for address, resource in state["resources"].items()} == expected_versions
    for address, model_id in models.items():
        assert state["resources"][address]["configuration"] == expected_payload(model_id)
    assert admin.live_versions(list(models.values())) == {models[a]: v for a, v in expected_versions.items()}
    assert not (project.state_dir / "journal.jsonl").exists()

    # audit: a pending entry (the intent) then a success for each changed model, chained,
    # and one state_refresh for the model that already matched (recorded in state, not PUT)
    entries = project.audit()
    changed = {address: models[address] for address in ("bench-00001", "bench-00002", "bench-00003", "bench-00004")}
    assert len(entries) == 9
    for address, model_id in changed.items():
        mine = [entry for entry in entries if entry["model_id"] == model_id]
        assert [entry["status"] for entry in mine] == ["pending", "success"]
        pending, success = mine
        assert pending["operation_id"] == success["operation_id"]
        assert success["action"] == "configuration_update"
        assert success["address"] == address and success["environment"] == "dev"
        assert success["payload_hash"] == sha256_of_canonical(expected_payload(model_id))
        assert success["compliance_mode"] == "standard"
        assert success["version"] == expected_versions[address]
        assert success["latency_ms"] >= 0
        assert str(success["plan_checksum"]).startswith("sha256:")
        assert "error_code" not in success
    unchanged = [entry for entry in entries if entry["model_id"] == models["bench-00005"]]
    assert [(entry["action"], entry["status"], entry["version"]) for entry in unchanged] == [("state_refresh", "success", 1)]
    verify = project.run("audit", "verify", "--env", "dev")
    assert verify.code == 0, str(verify)
    assert "10 entries, chain intact" in verify.stdout  # and the state commit that vouches for the state

    # governance: one signed event per applied model, matching the success entries
    deliveries = admin.deliveries()
    assert len(deliveries) == 4
    successes = {entry["audit_id"]: entry for entry in entries if entry["status"] == "success"}
    for delivery in deliveries:
        event = admin.verified_event(delivery)  # Standard Webhooks signature, checked by the reference library
        assert event["event_type"] == "llm_config_change"
        assert event["audit_log"] == successes[event["event_id"]]
        model_id = event["configuration_snapshot"]["model_id"]
        assert event["configuration_snapshot"] == {
            "model_id": model_id,
            "temperature_matrix": {"default": 0.5, "creative": 0.9, "precise": 0.1},
            "safety_filters_count": 2,
            "compliance_mode": "standard",
        }
    assert sorted(d["body"]["configuration_snapshot"]["model_id"] for d in deliveries) == sorted(changed.values())
    flush = project.run("governance", "flush", "--env", "dev")
    assert flush.code == 0 and "0 delivered, 0 failed, 0 still queued" in flush.stdout, str(flush)
    assert len(admin.deliveries()) == 4

    # metrics: the Prometheus textfile holds the same counts
    metrics = (project.state_dir / "metrics.prom").read_text(encoding="utf-8")
    assert 'llmplan_apply_updates_total{environment="dev"} 4\n' in metrics
    assert 'llmplan_apply_successes_total{environment="dev"} 4\n' in metrics
    assert 'llmplan_apply_failures_total{environment="dev"} 0\n' in metrics
    assert 'llmplan_apply_success_ratio{environment="dev"} 1\n' in metrics

    # converged: the next plan has nothing to do, and a second apply sends no PUT
    again = project.run("plan", "--env", "dev", "--detailed-exitcode")
    assert again.code == 0, str(again)
    puts_before = len(admin.puts())
    second = project.run("apply", "--env", "dev", "--auto-approve")
    assert second.code == 0 and "No changes." in second.stdout, str(second)
    assert len(admin.puts()) == puts_before
    assert project.state_document()["serial"] == 1


def test_progress_without_a_terminal_is_one_line_per_model_on_stderr(project: ApplyProject) -> None:
    project.add_generated(3)
    done = project.subprocess("apply", "--env", "dev", "--auto-approve")
    assert done.code == 0, str(done)
    progress = [line.split() for line in done.stderr.splitlines() if line.strip()]
    assert sorted(progress) == [
        ["success", "create", "bench-00001", "→", "version", "1"],
        ["success", "create", "bench-00002", "→", "version", "1"],
        ["success", "create", "bench-00003", "→", "version", "1"],
    ]
    assert "\r" not in done.stderr
    assert "bench-00001" not in done.stdout.split("Apply complete")[1]


def run_with_stderr_on_a_terminal(project: ApplyProject, *args: str) -> tuple[int, str]:
    """``llmplan ARGS`` with stderr on a pseudo-terminal (stdin and stdout not); returns the exit code and what the terminal showed."""
    controller, terminal = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("LLMPLAN_", "GENESYSCLOUD_"))}
    environ.update({k: v for k, v in project.environ().items() if v is not None})
    with subprocess.Popen([sys.executable, "-m", "planner", *args, "--root", str(project.root)], env=environ, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=terminal) as child:
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        code = child.wait(timeout=60)
    os.close(controller)
    return code, shown.decode("utf-8", "replace").replace("\r\n", "\n")


def test_progress_on_a_terminal_is_one_live_line_with_counts_and_rate(project: ApplyProject, admin: SandboxAdmin) -> None:
    project.add_generated(3)
    code, shown = run_with_stderr_on_a_terminal(project, "apply", "--env", "dev", "--auto-approve", "--parallelism", "1")
    assert code == 0
    assert re.search(r"^\r  applied 1/3  [0-9.]+/s  0 failed \r  applied 2/3  [0-9.]+/s  0 failed \r  applied 3/3  [0-9.]+/s  0 failed \n$", shown), repr(shown)


def test_an_error_after_a_stopped_progress_line_starts_on_its_own_line(project: ApplyProject, admin: SandboxAdmin) -> None:
    models = project.add_generated(3)
    admin.faults(rules=[admin.fail_puts(models["bench-00002"], 400)])

    code, shown = run_with_stderr_on_a_terminal(project, "apply", "--env", "dev", "--auto-approve", "--parallelism", "1", "--fail-fast")

    assert code == 1
    assert "\r  applied 2/3  " in shown and "/s  1 failed \nError: 1 change(s) failed and 1 were not attempted" in shown, repr(shown)

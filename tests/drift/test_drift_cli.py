"""`llmplan drift` against the real sandbox: what a cron job relies on.

Exit 0 means no drift, 2 drift, 1 an error (an unreachable gateway is an
error, never "no drift"); the report tells which side moved and since when.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from planner.adapters.gateway.client import GatewayClient
from planner.adapters.gateway.retry import RetryPolicy
from planner.adapters.records.local_lock import LocalLocker
from tests.plan.e2e_project import ROUTER, SUPPORT, THREE_MODELS, TRANSLATOR, Admin, Project, model_config


@pytest.fixture
def applied(project: Project) -> Project:
    project.write_models(THREE_MODELS)
    project.apply()
    return project


def test_no_drift_exits_0(applied: Project) -> None:
    done = applied.run("drift", "--env", "dev")
    assert done.code == 0, done
    assert done.stdout == "No drift: the live configuration of environment dev matches the YAML (3 models).\n"


def test_a_change_outside_llmplan_exits_2_naming_the_field(applied: Project, admin: Admin) -> None:
    admin.patch(SUPPORT, max_tokens=1024, temperature_matrix={"creative": 0.9})
    done = applied.run("drift", "--env", "dev")
    assert done.code == 2, done
    lines = done.stdout.splitlines()
    assert lines[0] == "Drift in environment dev: 1 of 3 models differ from the YAML."
    assert lines[2] == "  (each line reads live → YAML: what apply would change back)"
    assert lines[4].startswith(f"  ~ support-bot ({SUPPORT}): live changed outside llmplan (last applied ")
    assert lines[4].endswith(" as version 1, live version 2)")
    assert lines[5:7] == ["      ~ max_tokens: 1024 → 2048", "      ~ temperature_matrix.creative: 0.9 → 1.2"]
    assert "To restore the YAML: llmplan plan --env dev, then apply." in done.stdout

    code, document = applied.json("drift", "--env", "dev")
    assert code == 2
    (entry,) = document["resource_drift"]
    assert entry["address"] == "support-bot" and entry["model_id"] == SUPPORT
    assert entry["drift_kind"] == "changed_outside"
    assert entry["field_changes"] == [  # live → YAML, as in a plan
        {"path": "max_tokens", "before": 1024, "after": 2048},
        {"path": "temperature_matrix.creative", "before": 0.9, "after": 1.2},
    ]
    assert (entry["state_version"], entry["live_version"]) == (1, 2)
    assert entry["applied_at"] is not None
    assert document["summary"] == {"total": 3, "drifted": 1, "unmanaged": 0}


def test_a_yaml_edit_not_applied_is_reported_as_such(applied: Project) -> None:
    applied.edit_model("intent-router", "max_tokens: 512", "max_tokens: 256")
    done = applied.run("drift", "--env", "dev")
    assert done.code == 2, done
    assert f"  ~ intent-router ({ROUTER}): YAML changed but not applied (last applied " in done.stdout
    assert "      ~ max_tokens: 512 → 256\n" in done.stdout  # live → YAML
    code, document = applied.json("drift", "--env", "dev")
    assert [(e["address"], e["drift_kind"]) for e in document["resource_drift"]] == [("intent-router", "not_applied")]


def test_both_sides_moved(applied: Project, admin: Admin) -> None:
    applied.edit_model("intent-router", "max_tokens: 512", "max_tokens: 256")
    admin.patch(ROUTER, compliance_mode="strict")
    code, document = applied.json("drift", "--env", "dev")
    assert code == 2
    (entry,) = document["resource_drift"]
    assert entry["drift_kind"] == "both"
    assert [c["path"] for c in entry["field_changes"]] == ["compliance_mode", "max_tokens"]


def test_a_model_never_applied_by_llmplan(project: Project, admin: Admin) -> None:
    project.write_models(THREE_MODELS)
    admin.add_models({"id": ROUTER, "name": "llama-intent-router", "capabilities": {"max_context_window": 2048, "restricted_safety_filters": ["political", "profanity"]}, "configuration": model_config(ROUTER, max_tokens=100)})
    code, document = project.json("drift", "--env", "dev")
    assert code == 2
    kinds = {e["address"]: e["drift_kind"] for e in document["resource_drift"]}
    # the router was configured by hand, the other two never: all differ from YAML, none applied by llmplan
    assert kinds == {"intent-router": "never_applied", "summarizer": "never_applied", "support-bot": "never_applied"}


def test_an_unmanaged_model_is_listed_and_is_not_drift(applied: Project, admin: Admin) -> None:
    admin.add_models({"id": TRANSLATOR, "name": "gemini-translate", "capabilities": {"max_context_window": 6144, "restricted_safety_filters": []}, "configuration": model_config(TRANSLATOR)})
    done = applied.run("drift", "--env", "dev")
    assert done.code == 0, done
    assert done.stdout.startswith("No drift: the live configuration of environment dev matches the YAML (3 models); 1 configuration on the gateway is unmanaged (in no YAML file).\n")
    assert "Unmanaged: 1 configured model on the gateway is in no YAML file of dev:\n" in done.stdout
    assert f"  ? gemini-translate ({TRANSLATOR})\n" in done.stdout
    assert "Adopt them with: llmplan import --env dev --model-id ID" in done.stdout
    code, document = applied.json("drift", "--env", "dev")
    assert code == 0
    assert document["unmanaged"] == [{"model_id": TRANSLATOR, "name": "gemini-translate", "version": 1}]
    assert document["summary"] == {"total": 3, "drifted": 0, "unmanaged": 1}
    assert document["resource_drift"] == []


def test_json_follows_the_plan_json_shape(applied: Project, admin: Admin) -> None:
    admin.patch(SUPPORT, compliance_mode="permissive")
    code, document = applied.json("drift", "--env", "dev")
    assert code == 2
    assert document["format_version"] == "1.2"
    assert document["llmplan"]["environment"] == "dev"
    assert document["timestamp"] and document["llmplan_version"]
    (entry,) = document["resource_drift"]
    assert {key: entry[key] for key in ("address", "mode", "type", "name")} == {
        "address": "support-bot",
        "mode": "managed",
        "type": "llm_model_configuration",
        "name": "support-bot",
    }
    assert entry["change"]["actions"] == ["update"]
    assert entry["change"]["before"]["compliance_mode"] == "permissive"  # live
    assert entry["change"]["after"]["compliance_mode"] == "strict"  # YAML
    assert entry["last_applied"]["compliance_mode"] == "strict"
    # the plan's Terraform sections, where they apply: the state and the files (nothing is planned)
    assert "planned_values" not in document
    recorded = {r["address"]: r["values"] for r in document["prior_state"]["values"]["root_module"]["resources"]}
    assert sorted(recorded) == ["intent-router", "summarizer", "support-bot"]
    assert recorded["support-bot"]["compliance_mode"] == "strict"
    files = {r["address"]: r for r in document["configuration"]["root_module"]["resources"]}
    assert sorted(files) == ["intent-router", "summarizer", "support-bot"]
    assert files["support-bot"]["expressions"]["compliance_mode"] == {"constant_value": "strict"}
    assert files["support-bot"]["file"] == "environments/dev/models/support-bot.yaml"


@pytest.mark.parametrize("output_format", ["text", "markdown", "json"])
def test_out_writes_the_report(applied: Project, admin: Admin, output_format: str) -> None:
    admin.patch(SUPPORT, max_tokens=1000)
    report = applied.root / f"drift.{output_format}"
    done = applied.run("drift", "--env", "dev", "--format", output_format, "--out", str(report))
    assert done.code == 2, done
    assert report.read_text(encoding="utf-8") == done.stdout
    if output_format == "markdown":
        assert done.stdout.startswith("### llmplan drift · `dev` · 1 of 3 models drifted\n")
        assert "| `support-bot` | live changed outside llmplan |" in done.stdout
    if output_format == "json":
        assert json.loads(done.stdout)["summary"]["drifted"] == 1


def test_out_creates_its_folder(applied: Project) -> None:
    report = applied.root / "reports" / "drift.txt"
    done = applied.run("drift", "--env", "dev", "--out", str(report))
    assert done.code == 0, done
    assert report.read_text(encoding="utf-8") == done.stdout


def test_out_where_no_file_can_be_written_is_a_clear_error(applied: Project) -> None:
    (applied.root / "a-file").write_text("not a folder\n", encoding="utf-8")
    done = applied.run("drift", "--env", "dev", "--out", str(applied.root / "a-file" / "drift.txt"))
    assert done.code == 1, done
    assert done.stderr.startswith("Error: ") and "a-file/drift.txt" in done.stderr
    assert "Traceback" not in done.stderr


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused connection is retried with backoff for up to a minute (a gateway
    restarting); these tests need the verdict, not the wait."""
    monkeypatch.setitem(GatewayClient.__init__.__kwdefaults__, "retry", RetryPolicy(unavailable=1, backoff_base=0.01, backoff_cap=0.01))


@pytest.mark.usefixtures("quick_retries")
def test_a_gateway_that_is_down_is_an_error_never_no_drift(applied: Project, sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sandbox.stop()
    for output_format in ("text", "json"):
        done = applied.run("drift", "--env", "dev", "--format", output_format)
        assert done.code == 1, done
        assert "Error: gateway unavailable" in done.stderr
        if output_format == "text":
            assert done.stdout == ""
        else:  # a machine reader gets Terraform's diagnostics, never silence
            document = json.loads(done.stdout)
            assert document["errored"] is True
            assert document["diagnostics"][0]["summary"].startswith("gateway unavailable")
    applied.write_environment(gateway=f"base_url: http://127.0.0.1:{closed_port()}")
    done = applied.run("drift", "--env", "dev", "--out", str(tmp_path / "report.txt"))
    assert done.code == 1, done
    assert not (tmp_path / "report.txt").exists()


def test_no_prompt_and_no_color_off_a_terminal(applied: Project, admin: Admin) -> None:
    admin.patch(SUPPORT, max_tokens=1000)
    done = applied.subprocess("drift", "--env", "dev")  # stdin closed, stdout a pipe
    assert done.code == 2, done
    assert "\x1b[" not in done.stdout + done.stderr
    assert "~ max_tokens: 1000 → 2048" in done.stdout


def test_drift_runs_while_another_process_holds_the_apply_lock(applied: Project, admin: Admin) -> None:
    backend = LocalLocker(applied.state_dir)
    lock = backend.lock("apply")
    try:
        assert applied.run("drift", "--env", "dev").code == 0
        admin.patch(SUPPORT, max_tokens=1000)
        done = applied.run("drift", "--env", "dev")
        assert done.code == 2, done
        assert "live changed outside llmplan" in done.stdout
        # a command that writes state waits for nobody and names the holder
        refused = applied.run("refresh", "--env", "dev")
        assert refused.code == 1, refused
        assert "apply" in refused.stderr and lock.info.id in refused.stderr
    finally:
        backend.unlock(lock)


def test_a_model_the_gateway_does_not_know_is_an_error_naming_file_and_line(applied: Project) -> None:
    ghost = "0badc0de-0000-4000-8000-000000000000"
    applied.write_model("ghost", THREE_MODELS["summarizer"].replace("model_id: b2c3d4e5-f6a7-4890-9bcd-ef1234567891", f"model_id: {ghost}"))
    done = applied.run("drift", "--env", "dev")
    assert done.code == 1, done
    assert f"environments/dev/models/ghost.yaml:2 model_id: model {ghost} does not exist on the gateway" in done.stderr
    assert done.stdout == ""

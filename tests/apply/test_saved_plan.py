"""`llmplan apply plan.json`: exactly the reviewed plan, or a refusal that
changes nothing when the plan is stale, edited or damaged."""

from __future__ import annotations

import json
from pathlib import Path

from tests.apply.project import ApplyProject, SandboxAdmin, expected_payload


def save_plan(project: ApplyProject, path: Path) -> dict:
    done = project.run("plan", "--env", "dev", "--out", str(path))
    assert done.code == 0, str(done)
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_saved_plan_is_applied_exactly_and_only_once(project: ApplyProject, admin: SandboxAdmin, tmp_path: Path) -> None:
    models = project.add_generated(3)
    plan_file = tmp_path / "plan.json"
    document = save_plan(project, plan_file)
    # the YAML changes after the review: the reviewed plan is what gets applied, not the new YAML
    project.edit_model("bench-00002", "max_tokens: 1024", "max_tokens: 2000")

    done = project.run("apply", str(plan_file))

    assert done.code == 0, str(done)
    assert "Apply complete: 3 succeeded, 0 failed, 0 not attempted." in done.stdout
    live = admin.live()
    assert {address: live[model_id]["max_tokens"] for address, model_id in models.items()} == {"bench-00001": 1024, "bench-00002": 1024, "bench-00003": 1024}
    checksum = document["llmplan"]["checksum"]
    assert {entry["plan_checksum"] for entry in project.audit()} == {checksum}

    puts = len(admin.puts())
    again = project.run("apply", str(plan_file))
    assert again.code == 1, str(again)
    # the audit trail knows why the state moved: this very plan was applied
    assert "Error: this plan was already applied on " in again.stderr
    assert ": all 3 of its changes are in the audit trail; a saved plan is applied once" in again.stderr
    assert "another apply ran" not in again.stderr and "Traceback" not in again.stderr
    assert len(admin.puts()) == puts


def test_an_out_of_band_change_after_the_plan_makes_it_stale(project: ApplyProject, admin: SandboxAdmin, tmp_path: Path) -> None:
    models = project.add_generated(3)
    project.apply()
    project.edit_model("bench-00001", "max_tokens: 1024", "max_tokens: 1500")
    project.edit_model("bench-00003", "max_tokens: 1024", "max_tokens: 1500")
    plan_file = tmp_path / "plan.json"
    save_plan(project, plan_file)
    admin.patch(models["bench-00003"], max_tokens=700)  # someone edits it in the console meanwhile
    admin.clear_requests()
    audit_before = project.audit_lines()

    done = project.run("apply", str(plan_file))

    assert done.code == 1, str(done)
    assert "live configuration changed since the plan was made: bench-00003 (planned against version 1, live is version 2)" in done.stderr
    assert "bench-00001" not in done.stderr
    assert admin.puts() == []
    assert admin.live()[models["bench-00001"]]["max_tokens"] == 1024
    assert project.audit_lines() == audit_before


def test_a_hand_edited_plan_is_refused_by_its_checksum(project: ApplyProject, admin: SandboxAdmin, tmp_path: Path) -> None:
    models = project.add_generated(2)
    plan_file = tmp_path / "plan.json"
    document = save_plan(project, plan_file)
    for change in document["resource_changes"]:
        change["change"]["after"]["max_tokens"] = 4096  # "just a small fix" after the review
    plan_file.write_text(json.dumps(document, indent=2), encoding="utf-8")

    done = project.run("apply", str(plan_file))

    assert done.code == 1, str(done)
    assert "was modified after it was written (checksum mismatch)" in done.stderr
    assert admin.puts() == []
    assert admin.live_versions(list(models.values())) == {model_id: None for model_id in models.values()}
    assert not (project.state_dir / "audit.jsonl").exists()


def test_a_truncated_plan_file_is_a_clear_error(project: ApplyProject, admin: SandboxAdmin, tmp_path: Path) -> None:
    project.add_generated(2)
    plan_file = tmp_path / "plan.json"
    save_plan(project, plan_file)
    text = plan_file.read_text(encoding="utf-8")
    plan_file.write_text(text[: len(text) // 2], encoding="utf-8")

    done = project.run("apply", str(plan_file))

    assert done.code == 1, str(done)
    assert f"plan file {plan_file} is not valid JSON (truncated or not a plan?)" in done.stderr
    assert "Traceback" not in done.stderr
    assert admin.puts() == []


def test_a_plan_for_another_environment_is_refused(project: ApplyProject, admin: SandboxAdmin, tmp_path: Path) -> None:
    project.add_generated(1)
    plan_file = tmp_path / "plan.json"
    save_plan(project, plan_file)
    done = project.run("apply", str(plan_file), "--env", "prod")
    assert done.code == 1, str(done)
    assert "the plan file is for environment dev, not prod" in done.stderr
    assert admin.puts() == []


def test_a_saved_plan_payload_is_what_the_gateway_receives(project: ApplyProject, admin: SandboxAdmin, tmp_path: Path) -> None:
    models = project.add_generated(1, max_tokens=3000, compliance_mode="strict")
    plan_file = tmp_path / "plan.json"
    save_plan(project, plan_file)
    assert project.run("apply", str(plan_file)).code == 0
    live = admin.live()[models["bench-00001"]]
    assert {key: live[key] for key in expected_payload("x")} == expected_payload(models["bench-00001"], max_tokens=3000, compliance_mode="strict")


def test_a_removed_model_file_is_forgotten_and_the_live_model_left_alone(project: ApplyProject, admin: SandboxAdmin) -> None:
    models = project.add_generated(3)
    project.apply()
    (project.models_dir / "bench-00002.yaml").unlink()
    admin.clear_requests()

    done = project.run("apply", "--env", "dev", "--auto-approve")

    assert done.code == 0, str(done)
    assert "Plan: 0 to create, 0 to update, 1 to forget." in done.stdout
    assert admin.puts() == []
    assert admin.live()[models["bench-00002"]]["version"] == 1
    assert project.recorded_versions() == {"bench-00001": 1, "bench-00003": 1}
    forget = [entry for entry in project.audit() if entry["action"] == "state_forget"]
    assert [(entry["address"], entry["status"]) for entry in forget] == [("bench-00002", "success")]
    assert project.run("plan", "--env", "dev", "--detailed-exitcode").code == 0

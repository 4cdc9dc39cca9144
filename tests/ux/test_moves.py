"""A renamed model file is a move, as Terraform's ``moved``: the plan says so,
nothing is forgotten, apply records the new address (audit ``state_move``)
and sends a PUT only when the configuration changed too.

The CLI runs against the real sandbox over HTTP; the request log proves
what was (not) sent.
"""

from __future__ import annotations

import json

from planner.core.validation import schema_violations
from planner.model import schemas
from tests.plan.e2e_project import SUMMARIZER, THREE_MODELS, Admin, Project


def applied(project: Project) -> Project:
    project.write_models(THREE_MODELS)
    project.apply()
    return project


def rename(project: Project, old: str, new: str) -> None:
    (project.models_dir / f"{old}.yaml").rename(project.models_dir / f"{new}.yaml")


def puts(admin: Admin) -> list[str]:
    return [entry["path"] for entry in admin.requests() if entry["method"] == "PUT"]


def test_a_renamed_file_is_a_move_in_every_format_and_nothing_is_forgotten(project: Project) -> None:
    applied(project)
    rename(project, "summarizer", "summ")

    text = project.run("plan", "--env", "dev", "--detailed-exitcode")
    assert text.code == 2, text  # a move is a change apply makes
    assert text.stdout == (
        "llmplan will perform the following actions in environment dev:\n\n"
        "  # summarizer has moved to summ\n"
        "    move summarizer to summ\n"
        "      # (7 unchanged fields hidden)\n\n"
        "Plan: 0 to create, 0 to update, 1 to move, 0 to forget.\n"
    )
    assert "forget" not in text.stdout.replace("0 to forget", "")

    code, document = project.json("plan", "--env", "dev")
    assert schema_violations(schemas.validator(schemas.PLAN), document) == []
    (entry,) = [e for e in document["resource_changes"] if e["model_id"] == SUMMARIZER]
    assert (entry["address"], entry["previous_address"], entry["change"]["actions"]) == ("summ", "summarizer", ["no-op"])
    assert [e["address"] for e in document["resource_changes"]] == ["intent-router", "summ", "support-bot"]  # no forget of summarizer
    assert "previous_address" not in document["resource_changes"][0]
    assert document["llmplan"]["summary"]["move"] == 1 and document["llmplan"]["summary"]["forget"] == 0

    markdown = project.run("plan", "--env", "dev", "--format", "markdown").stdout
    assert "|   | `summ` | move from `summarizer` | — |" in markdown
    assert "@@ summarizer has moved to summ (" in markdown


def test_apply_records_the_new_address_audited_as_state_move_and_sends_no_put(project: Project, admin: Admin) -> None:
    applied(project)
    before = {e["audit_id"] for e in project.audit()}
    rename(project, "summarizer", "summ")
    admin.clear_requests()

    done = project.apply()
    assert "  success  move summ (from summarizer)\n" in done.stderr
    assert "Apply complete: 0 succeeded, 0 failed, 0 not attempted; 1 moved to a new address." in done.stdout
    assert puts(admin) == []  # the configuration did not change: nothing is sent
    assert project.run("state", "list", "--env", "dev").stdout == "intent-router\nsumm\nsupport-bot\n"
    (move,) = [e for e in project.audit() if e["audit_id"] not in before]
    assert (move["action"], move["status"], move["address"], move["previous_address"], move["model_id"]) == ("state_move", "success", "summ", "summarizer", SUMMARIZER)
    assert schema_violations(schemas.validator(schemas.AUDIT_ENTRY), move) == []
    shown = project.run("audit", "show", "--env", "dev").stdout.splitlines()
    assert shown[-2].endswith("state_move           success  summ (from summarizer)")
    assert shown[-1].endswith("state_commit         success  serial 2")  # the commit that vouches for the new state
    again = project.run("plan", "--env", "dev", "--detailed-exitcode")
    assert again.code == 0 and again.stdout.startswith("No changes."), again


def test_a_move_with_a_changed_configuration_sends_one_put_after_the_move(project: Project, admin: Admin) -> None:
    applied(project)
    rename(project, "summarizer", "summ")
    project.edit_model("summ", "max_tokens: 4096", "max_tokens: 2048")

    plan = project.run("plan", "--env", "dev")
    assert (
        f"  # summ ({SUMMARIZER}) will be updated in place (live version 1)\n"
        "  # (moved from summarizer)\n"
        "  ~ update summ\n"
        "      ~ max_tokens: 4096 → 2048\n"
        "      # (6 unchanged fields hidden)\n"
    ) in plan.stdout
    assert plan.stdout.endswith("Plan: 0 to create, 1 to update, 1 to move, 0 to forget.\n")

    plan_file = project.root / "plan.json"
    assert project.run("plan", "--env", "dev", "--out", str(plan_file)).code == 0
    admin.clear_requests()
    done = project.run("apply", str(plan_file), "--auto-approve")  # a saved plan carries the move too
    assert done.code == 0, done
    assert puts(admin) == [f"/api/v2/ai/models/{SUMMARIZER}/configuration"]
    actions = [(e["action"], e["status"], e["address"]) for e in project.audit()[-3:]]
    assert actions == [("state_move", "success", "summ"), ("configuration_update", "pending", "summ"), ("configuration_update", "success", "summ")]
    state = json.loads(project.run("state", "show", "--env", "dev", "--format", "json").stdout)["state"]["resources"]
    assert sorted(state) == ["intent-router", "summ", "support-bot"]
    assert (state["summ"]["version"], state["summ"]["configuration"]["max_tokens"]) == (2, 2048)


def test_a_targeted_move_is_named_by_either_address(project: Project) -> None:
    applied(project)
    rename(project, "summarizer", "summ")
    for target in ("summ", "summarizer"):
        code, document = project.json("plan", "--env", "dev", "--target", target)
        assert [(e["address"], e.get("previous_address")) for e in document["resource_changes"]] == [("summ", "summarizer")], target


def test_drift_does_not_call_a_renamed_model_never_applied(project: Project, admin: Admin) -> None:
    applied(project)
    rename(project, "summarizer", "summ")
    admin.patch(SUMMARIZER, max_tokens=1000)
    code, document = project.json("drift", "--env", "dev")
    assert code == 2
    (entry,) = document["resource_drift"]
    assert (entry["address"], entry["drift_kind"], entry["state_version"]) == ("summ", "changed_outside", 1)


def test_state_mv_by_hand_is_audited_and_the_plan_then_sees_no_move(project: Project, admin: Admin) -> None:
    applied(project)
    rename(project, "summarizer", "summ")
    done = project.run("state", "mv", "--env", "dev", "summarizer", "summ")
    assert done.code == 0, done
    assert done.stdout == f"Moved summarizer to summ ({SUMMARIZER}) in the state of dev.\n"
    entry = project.audit()[-1]
    assert (entry["action"], entry["address"], entry["previous_address"]) == ("state_mv", "summ", "summarizer")
    assert schema_violations(schemas.validator(schemas.AUDIT_ENTRY), entry) == []
    plan = project.run("plan", "--env", "dev", "--detailed-exitcode")
    assert plan.code == 0 and plan.stdout.startswith("No changes."), plan

"""`llmplan drift` remembers its last result in the environment's records, for
`llmplan report --offline`: what the last check found, kept until the next one."""

from __future__ import annotations

import json

from tests.plan.e2e_project import SUPPORT, THREE_MODELS, Admin, Project


def remembered(project: Project) -> dict:
    return json.loads((project.state_dir / "drift.json").read_text(encoding="utf-8"))


def test_drift_keeps_what_it_found_until_the_next_check(project: Project, admin: Admin) -> None:
    project.write_models(THREE_MODELS)
    assert project.run("apply", "--env", "dev", "--auto-approve").code == 0
    admin.patch(SUPPORT, safety_filters=[{"filter_type": "pii", "action": "flag", "threshold": 85}, {"filter_type": "self_harm", "action": "block", "threshold": 10}])

    found = project.run("drift", "--env", "dev")
    assert found.code == 2, str(found)
    result = remembered(project)
    assert (result["environment"], result["models"], result["unmanaged"]) == ("dev", 3, 0)
    (item,) = result["drifted"]
    assert (item["address"], item["model_id"], item["kind"]) == ("support-bot", SUPPORT, "changed_outside")
    assert {"path": "safety_filters[pii].action", "before": "flag", "after": "redact"} in item["changes"]  # live → YAML
    assert [(finding["path"], finding["effect"]) for finding in item["weakened_outside"]] == [("safety_filters[pii].action", "weakens")]
    first_check = result["checked_at"]

    assert project.run("apply", "--env", "dev", "--auto-approve").code == 0  # the YAML restored
    assert project.run("drift", "--env", "dev").code == 0
    again = remembered(project)
    assert again["drifted"] == [] and again["checked_at"] > first_check


def test_a_result_that_cannot_be_kept_is_a_warning_never_a_failed_check(project: Project, admin: Admin) -> None:
    project.write_models(THREE_MODELS)
    assert project.run("apply", "--env", "dev", "--auto-approve").code == 0
    (project.state_dir / "drift.json").mkdir()  # nothing can replace it

    done = project.run("drift", "--env", "dev")

    assert done.code == 0, str(done)
    assert "No drift" in done.stdout
    assert "WARNING llmplan.records: the drift result was not remembered for `llmplan report --offline`" in done.stderr
    assert "Traceback" not in done.stderr

"""Each configuration_update outcome in the audit trail says what it changed, field by
field (a report's per-model history shows it); the intent before the request does not."""

from __future__ import annotations

from typing import Any

from planner.adapters.records.chain import schema_problems
from tests.apply.project import ApplyProject, SandboxAdmin


def outcomes(project: ApplyProject, address: str) -> list[dict[str, Any]]:
    return [e for e in project.audit() if e["action"] == "configuration_update" and e["address"] == address and e["status"] != "pending"]


def test_successes_and_failures_carry_the_plans_field_changes(project: ApplyProject, admin: SandboxAdmin) -> None:
    models = project.add_generated(2)
    assert project.run("apply", "--env", "dev", "--auto-approve").code == 0
    (created,) = outcomes(project, "bench-00001")
    assert {"path": "max_tokens", "before": None, "after": 1024} in created["changes"]  # a first configuration: every field added

    project.edit_model("bench-00001", "max_tokens: 1024", "max_tokens: 2048")
    project.edit_model("bench-00002", "{filter_type: pii, action: redact, threshold: 80}", "{filter_type: pii, action: block, threshold: 70}")
    admin.faults(rules=[admin.fail_puts(models["bench-00002"], 400)])
    assert project.run("apply", "--env", "dev", "--auto-approve").code == 1

    updated = outcomes(project, "bench-00001")[-1]
    assert (updated["status"], updated["changes"]) == ("success", [{"path": "max_tokens", "before": 1024, "after": 2048}])
    refused = outcomes(project, "bench-00002")[-1]
    assert refused["status"] == "failure"
    assert refused["changes"] == [
        {"path": "safety_filters[pii].action", "before": "redact", "after": "block"},
        {"path": "safety_filters[pii].threshold", "before": 80, "after": 70},
    ]
    pending = [e for e in project.audit() if e["status"] == "pending"]
    assert pending and all("changes" not in e for e in pending)
    assert all(schema_problems(e) == [] for e in project.audit())
    assert project.run("audit", "verify", "--env", "dev").code == 0

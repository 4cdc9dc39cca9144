"""What a governance platform receives from a real `llmplan apply`: one event per
attempted update, successes and failures alike, in the documented shape, each
signed per the Standard Webhooks specification and verified by the reference
library ``standardwebhooks`` and by the sandbox's receiver."""

from __future__ import annotations

from planner.model import schemas
from tests.apply.project import WEBHOOK_SECRET_ENV, ApplyProject, SandboxAdmin, expected_payload


def test_every_event_of_an_apply_verifies_and_a_refused_put_is_reported_failed(project: ApplyProject, admin: SandboxAdmin) -> None:
    models = project.add_generated(3)
    refused = models["bench-00002"]
    admin.faults(rules=[admin.fail_puts(refused, 400)])

    done = project.run("apply", "--env", "dev", "--auto-approve")

    assert done.code == 1, str(done)
    assert "Apply complete: 2 succeeded, 1 failed, 0 not attempted." in done.stdout
    outcomes = {entry["audit_id"]: entry for entry in project.audit() if entry["status"] in ("success", "failure")}
    deliveries = admin.deliveries()
    events = [admin.verified_event(delivery) for delivery in deliveries]  # every one verifies
    assert sorted(event["event_id"] for event in events) == sorted(outcomes)  # one per outcome, the failure included
    validator = schemas.validator(schemas.GOVERNANCE_EVENT)
    for delivery, event in zip(deliveries, events, strict=True):
        headers = {name.lower(): value for name, value in delivery["headers"].items()}
        assert headers["webhook-id"] == event["event_id"]
        assert not [name for name in headers if name.startswith("x-llmplan")]
        assert list(validator.iter_errors(event)) == []
        assert (event["event_type"], event["environment"]) == ("llm_config_change", "dev")

    (failed,) = [event for event in events if event["audit_log"]["status"] == "failed"]
    entry = outcomes[failed["event_id"]]
    assert entry["status"] == "failure" and failed["audit_log"]["model_id"] == refused
    assert failed["audit_log"]["error"] == entry["error_message"] and "injected by sandbox fault rule 0" in failed["audit_log"]["error"]
    assert failed["audit_log"]["error_code"] == "bad.request"
    # the snapshot is the configuration that was refused
    payload = expected_payload(refused)
    assert failed["configuration_snapshot"] == {
        "model_id": refused,
        "temperature_matrix": payload["temperature_matrix"],
        "safety_filters_count": len(payload["safety_filters"]),
        "compliance_mode": payload["compliance_mode"],
    }
    # the failure's event is durable like the others: nothing is left in the outbox
    assert project.run("governance", "flush", "--env", "dev").stdout.strip() == "governance: 0 delivered, 0 failed, 0 still queued"


def test_a_malformed_signing_secret_is_refused_before_any_put(project: ApplyProject, admin: SandboxAdmin) -> None:
    project.add_generated(1)
    done = project.run("apply", "--env", "dev", "--auto-approve", env={WEBHOOK_SECRET_ENV: "whsec_not base64 at all"})
    assert done.code == 1, str(done)
    assert "holds 4 space-separated values; it may hold one secret, or two while rotating keys" in done.stderr
    assert "Traceback" not in done.stderr and "base64 at all" not in done.stderr + done.stdout
    assert admin.puts() == []

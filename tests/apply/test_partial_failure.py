"""A gateway that refuses some PUTs: the others are applied and recorded, the
failures are named and audited, and a re-run finishes the job."""

from __future__ import annotations

from tests.apply.project import CONFIG_PATH, ApplyProject, Run, SandboxAdmin


def test_failed_models_do_not_stop_the_others_and_a_rerun_converges(project: ApplyProject, admin: SandboxAdmin) -> None:
    models = project.add_generated(6)
    bad, down = models["bench-00002"], models["bench-00005"]
    admin.faults(
        rules=[
            admin.fail_puts(bad, 400),
            # more 503s than the client's 8 retries of an unavailable gateway; retry_after 0 keeps the test fast
            admin.fail_puts(down, 503, count=20, retry_after=0),
        ]
    )

    done = project.run("apply", "--env", "dev", "--auto-approve")

    assert done.code == 1, str(done)
    assert "Apply complete: 4 succeeded, 2 failed, 0 not attempted." in done.stdout
    assert "Error: 2 change(s) failed and 0 were not attempted (bench-00002: " in done.stderr
    assert "bench-00005: " in done.stderr
    assert "llmplan apply --env dev` again to finish" in done.stderr
    assert "metrics: 6 requests (6 creates, 0 updates), 4 succeeded, 2 failed (success rate 66.7 %)" in done.stdout

    # the four others are live and recorded
    expected = {a: 1 for a in ("bench-00001", "bench-00003", "bench-00004", "bench-00006")}
    assert project.recorded_versions() == expected
    live = admin.live_versions(list(models.values()))
    assert {a: live[m] for a, m in models.items()} == {**expected, "bench-00002": None, "bench-00005": None}

    # the failures are in the audit trail with the gateway's code and message
    failures = {entry["address"]: entry for entry in project.audit() if entry["status"] == "failure"}
    assert sorted(failures) == ["bench-00002", "bench-00005"]
    assert failures["bench-00002"]["error_code"] == "bad.request"
    assert "injected by sandbox fault rule 0" in failures["bench-00002"]["error_message"]
    assert failures["bench-00005"]["error_code"] == "service.unavailable"
    assert failures["bench-00005"]["error_message"]
    assert project.run("audit", "verify", "--env", "dev").code == 0
    metrics = (project.state_dir / "metrics.prom").read_text(encoding="utf-8")
    assert 'llmplan_apply_failures_total{environment="dev"} 2\n' in metrics
    # exactly 1 + 8 retries went to the unavailable model, one to the refused one
    assert len([p for p in admin.puts() if p["path"] == CONFIG_PATH.format(down)]) == 9
    assert len([p for p in admin.puts() if p["path"] == CONFIG_PATH.format(bad)]) == 1

    # the gateway recovers: a re-run applies only what is left
    admin.clear_faults()
    admin.clear_requests()
    rerun = project.run("apply", "--env", "dev", "--auto-approve")
    assert rerun.code == 0, str(rerun)
    assert "Apply complete: 2 succeeded, 0 failed, 0 not attempted." in rerun.stdout
    assert sorted(admin.model_of(p) for p in admin.puts()) == sorted([bad, down])
    assert project.run("plan", "--env", "dev", "--detailed-exitcode").code == 0
    assert project.recorded_versions() == {a: 1 for a in models}


def test_fail_fast_stops_scheduling_after_the_first_failure(project: ApplyProject, admin: SandboxAdmin) -> None:
    models = project.add_generated(5)
    admin.faults(rules=[admin.fail_puts(models["bench-00002"], 400)])

    done = project.run("apply", "--env", "dev", "--auto-approve", "--fail-fast", "--parallelism", "1")

    assert done.code == 1, str(done)
    assert "Apply complete: 1 succeeded, 1 failed, 3 not attempted." in done.stdout
    assert "1 change(s) failed and 3 were not attempted" in done.stderr
    assert [admin.model_of(p) for p in admin.puts()] == [models["bench-00001"], models["bench-00002"]]
    assert project.recorded_versions() == {"bench-00001": 1}
    # nothing was even announced for the models never attempted
    audited = {entry["address"] for entry in project.audit()}
    assert audited == {"bench-00001", "bench-00002"}

    admin.clear_faults()
    rerun = project.run("apply", "--env", "dev", "--auto-approve")
    assert rerun.code == 0 and "Apply complete: 4 succeeded" in rerun.stdout, str(rerun)


def test_a_version_conflict_is_reported_as_changed_since_plan_and_not_retried(project: ApplyProject, admin: SandboxAdmin) -> None:
    models = project.add_generated(2)
    project.apply()
    project.edit_model("bench-00001", "max_tokens: 1024", "max_tokens: 2000")
    admin.faults(rules=[{"match": {"method": "PUT", "path": CONFIG_PATH.format(models["bench-00001"])}, "effect": "status", "status": 409}])
    admin.clear_requests()

    done = project.run("apply", "--env", "dev", "--auto-approve")

    assert done.code == 1, str(done)
    assert "bench-00001 changed on the gateway since the plan was made (planned against version 1); not applied" in done.stderr
    assert len(admin.puts()) == 1
    failure = [entry for entry in project.audit() if entry["status"] == "failure"]
    assert [entry["error_code"] for entry in failure] == ["conflict"]


def conflict_at_the_prompt(project: ApplyProject, admin: SandboxAdmin, model_id: str, **live_edit: object) -> Run:
    """Plan an update of bench-00001 to max_tokens 2000, and while the apply waits for 'yes',
    change the live configuration (a console edit, or a lost answer's first attempt)."""
    child = project.start("apply", "--env", "dev", terminal=True)
    child.wait_for_output("Only 'yes' will be accepted")
    admin.patch(model_id, **live_edit)
    child.type("yes")
    return child.finish()


def test_a_conflict_whose_live_configuration_is_exactly_the_change_counts_as_applied(project: ApplyProject, admin: SandboxAdmin) -> None:
    models = project.add_generated(1)
    project.apply()
    project.edit_model("bench-00001", "max_tokens: 1024", "max_tokens: 2000")

    # what the gateway shows when a PUT's first attempt went through but its answer was lost
    done = conflict_at_the_prompt(project, admin, models["bench-00001"], max_tokens=2000)

    assert done.code == 0, str(done)
    assert "Apply complete: 1 succeeded, 0 failed, 0 not attempted." in done.stdout
    assert project.recorded_versions() == {"bench-00001": 2}
    last = project.audit()[-1]
    assert (last["status"], last["version"]) == ("success", 2)
    assert project.run("plan", "--env", "dev", "--detailed-exitcode").code == 0


def test_a_conflict_with_another_change_is_a_failure_that_changes_nothing(project: ApplyProject, admin: SandboxAdmin) -> None:
    models = project.add_generated(1)
    project.apply()
    project.edit_model("bench-00001", "max_tokens: 1024", "max_tokens: 2000")

    done = conflict_at_the_prompt(project, admin, models["bench-00001"], max_tokens=700)

    assert done.code == 1, str(done)
    assert "bench-00001 changed on the gateway since the plan was made (planned against version 1); not applied" in done.stderr
    assert admin.live()[models["bench-00001"]]["max_tokens"] == 700
    assert project.recorded_versions() == {"bench-00001": 1}

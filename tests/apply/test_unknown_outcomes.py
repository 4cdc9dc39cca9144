"""Lost answers, SIGTERM and partial applies, as a user meets them: the real
CLI against the real sandbox, the sandbox's request log as the witness of
what landed.

Each landed change has exactly one ``success`` entry and one governance
event, a lost answer never becomes a ``failure``, the next plan shows
nothing changed outside llmplan; a first configuration is guarded by
``version: 0``; SIGTERM is the first Ctrl-C (exit 143); an interrupted or
partly failed apply says what is left and how to finish it.
"""

from __future__ import annotations

import inspect
import json
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from planner.app.apply import apply
from planner.app.executor import Executor
from planner.app.hooks import Unattended
from planner.model.plan import Plan
from tests.apply.crash_checks import check_records_converge, slower_after, start_project
from tests.apply.project import CONFIG_PATH, ApplyProject, SandboxAdmin


def updates_and_first_configurations(project: ApplyProject) -> dict[str, str]:
    """bench-00001..4 applied and then changed (updates), bench-00005..8 new (first configurations)."""
    updated = project.add_generated(4)
    project.apply()
    for address in updated:
        project.edit_model(address, "max_tokens: 1024", "max_tokens: 2000")
    return {**updated, **project.add_generated(4, start=5)}


def this_run(entries: list[dict[str, Any]], before: int) -> list[dict[str, Any]]:
    return [entry for entry in entries[before:] if entry["action"] == "configuration_update"]


def test_lost_answers_land_once_each_with_one_success_and_one_event_and_no_drift(project: ApplyProject, admin: SandboxAdmin) -> None:
    models = updates_and_first_configurations(project)
    before, delivered = len(project.audit()), len(admin.deliveries())
    admin.clear_requests()
    admin.faults(rules=[{"match": {"method": "PUT"}, "effect": "lost_answer", "count": 8}])  # every first answer lost

    done = project.run("apply", "--env", "dev", "--auto-approve")

    assert done.code == 0, str(done)
    assert "Apply complete: 8 succeeded, 0 failed, 0 not attempted." in done.stdout
    # each change landed exactly once: one PUT each, applied, its answer lost; then one read-back, no resend
    puts = admin.puts()
    assert Counter(admin.model_of(p) for p in puts) == Counter({model_id: 1 for model_id in models.values()})
    assert {(p["status"], p["answer"]) for p in puts} == {(200, "lost")}
    log = admin.requests()
    first_put = next(index for index, entry in enumerate(log) if entry["method"] == "PUT")
    reads = [e for e in log[first_put:] if e["method"] == "GET" and e["path"].endswith("/configuration")]
    assert sorted(admin.model_of(r) for r in reads) == sorted(models.values())  # one read-back each
    # one success each, with the version read back, no failure
    outcomes = [e for e in this_run(project.audit(), before) if e["status"] != "pending"]
    assert sorted(e["address"] for e in outcomes) == sorted(models)
    assert {e["status"] for e in outcomes} == {"success"} and {e["resolved"] for e in outcomes} == {"read_back"}
    assert {e["address"]: e["version"] for e in outcomes} == {**{a: 2 for a in list(models)[:4]}, **{a: 1 for a in list(models)[4:]}}
    # one governance event each, carrying the success entry's id
    events = [admin.verified_event(d) for d in admin.deliveries()[delivered:]]
    assert sorted(e["event_id"] for e in events) == sorted(e["audit_id"] for e in outcomes)
    assert {e["audit_log"]["status"] for e in events} == {"success"}
    # and the next plan sees nothing to do and nothing changed outside llmplan
    code, plan = project.json("plan", "--env", "dev", "--detailed-exitcode")
    assert code == 0 and plan["resource_drift"] == []
    assert project.recorded_versions() == {e["address"]: e["version"] for e in outcomes}
    assert project.run("audit", "verify", "--env", "dev").code == 0


def test_a_first_configuration_is_guarded_with_version_0(project: ApplyProject, admin: SandboxAdmin) -> None:
    models = project.add_generated(1)
    model_id = models["bench-00001"]
    child = project.start("apply", "--env", "dev", terminal=True)
    child.wait_for_output("Only 'yes' will be accepted")
    # someone configures the model in the console while the plan (a first configuration) waits for 'yes'
    admin.patch(model_id, temperature_matrix={"default": 0.2, "creative": 0.4, "precise": 0.1}, safety_filters=[{"filter_type": "pii", "action": "block", "threshold": 10}], max_tokens=300)
    child.type("yes")
    done = child.finish()

    assert done.code == 1, str(done)
    assert "bench-00001 changed on the gateway since the plan was made (planned as its first configuration (version 0)); not applied" in done.stderr
    assert [(p["status"], admin.model_of(p)) for p in admin.puts()] == [(409, model_id)]  # refused by the guard, not resent
    assert admin.live()[model_id]["max_tokens"] == 300  # the console's configuration stands
    failure = [e for e in project.audit() if e["status"] == "failure"]
    assert [e["error_code"] for e in failure] == ["conflict"]


def test_an_outcome_that_cannot_be_read_back_stays_open_and_the_next_apply_settles_it(project: ApplyProject, admin: SandboxAdmin) -> None:
    models = project.add_generated(20)  # 20 or more: the live configurations come from the model list, not per-model GETs
    lost = models["bench-00002"]
    admin.faults(rules=[
        {"match": {"method": "PUT", "path": CONFIG_PATH.format(lost)}, "effect": "lost_answer"},
        {"match": {"method": "GET", "path": CONFIG_PATH.format(lost)}, "effect": "status", "status": 500},  # no read-back either
    ])

    done = project.run("apply", "--env", "dev", "--auto-approve")

    assert done.code == 1, str(done)
    assert "Apply complete: 19 succeeded, 0 failed, 1 outcome(s) unknown, 0 not attempted." in done.stdout
    assert "Partly applied: 19 of 20 changes are applied and recorded. To finish the job: `llmplan apply --env dev`." in done.stdout
    assert "0 change(s) failed, 1 outcome(s) unknown and 0 were not attempted (bench-00002: " in done.stderr
    entries = [e for e in project.audit() if e["address"] == "bench-00002"]
    assert [e["status"] for e in entries] == ["pending"]  # no failure for a change that landed
    assert admin.live()[lost]["version"] == 1  # it did land

    admin.clear_faults()
    delivered = len(admin.deliveries())
    rerun = project.run("apply", "--env", "dev", "--auto-approve")

    assert rerun.code == 0, str(rerun)
    assert "Note: an interrupted earlier apply was settled for bench-00002: success" in rerun.stderr
    assert "No changes." in rerun.stdout and "Changed outside llmplan" not in rerun.stdout
    settled = [e for e in project.audit() if e["address"] == "bench-00002"]
    assert [(e["status"], e.get("resolved"), e.get("version")) for e in settled] == [("pending", None, None), ("success", "settled", 1)]
    assert len(admin.puts(status=200)) == 20  # nothing was sent again
    events = [admin.verified_event(d) for d in admin.deliveries()[delivered:]]
    assert [e["event_id"] for e in events] == [settled[-1]["audit_id"]]
    assert project.recorded_versions() == {address: 1 for address in models}
    code, plan = project.json("plan", "--env", "dev", "--detailed-exitcode")
    assert code == 0 and plan["resource_drift"] == []


def test_a_partly_applied_saved_plan_says_how_to_finish_and_is_not_applied_twice(project: ApplyProject, admin: SandboxAdmin, tmp_path: Path) -> None:
    models = project.add_generated(6)
    plan_file = tmp_path / "plan.json"
    assert project.run("plan", "--env", "dev", "--out", str(plan_file)).code == 0
    admin.faults(rules=[admin.fail_puts(models["bench-00002"], 400)])

    done = project.run("apply", str(plan_file))

    assert done.code == 1, str(done)
    assert "Apply complete: 5 succeeded, 1 failed, 0 not attempted." in done.stdout
    assert "To finish the job: `llmplan plan --env dev --out plan.json`, review it, then `llmplan apply plan.json`." in done.stdout

    admin.clear_faults()
    puts = len(admin.puts())
    again = project.run("apply", str(plan_file))

    assert again.code == 1, str(again)
    assert "this plan was already partly applied on " in again.stderr
    assert ": 5 of its 6 changes were applied, 1 not (bench-00002); a saved plan is applied once" in again.stderr
    assert "Hint: plan what is left and review it: `llmplan plan --env dev --out plan.json`, then `llmplan apply plan.json`" in again.stderr
    assert "another apply ran" not in again.stderr
    assert len(admin.puts()) == puts  # nothing sent
    # what the hint says finishes the job
    assert project.run("plan", "--env", "dev", "--out", str(plan_file)).code == 0
    finished = project.run("apply", str(plan_file))
    assert finished.code == 0 and "Apply complete: 1 succeeded, 0 failed, 0 not attempted." in finished.stdout, str(finished)


def test_sigterm_finishes_and_records_what_is_in_flight_commits_unlocks_and_exits_143(tmp_path: Path, make_sandbox: Callable[..., Any]) -> None:
    models = 40
    project, admin, written = start_project(tmp_path / "project", make_sandbox, models=models, applied_before=False, latency_ms=30)
    slower_after(admin, models // 4 + 2 * 4, latency_ms=30, then_ms=300)
    child = project.start("apply", "--env", "dev", "--auto-approve", "--parallelism", "4")

    child.wait_for_progress(models // 4)
    child.kill(signal.SIGTERM)  # what a CI runner sends when the job is cancelled
    done = child.finish()

    assert done.code == 143, str(done)
    assert "Terminated." in done.stderr and "Traceback" not in done.stderr
    accepted = Counter(admin.model_of(p) for p in admin.puts(status=200))
    assert 0 < sum(accepted.values()) < models  # it stopped scheduling
    applied = sum(accepted.values())
    assert f"Apply interrupted: {applied} succeeded, 0 failed, {models - applied} not attempted." in done.stdout
    assert f"Partly applied: {applied} of {models} changes are applied and recorded. To finish the job: `llmplan apply --env dev`." in done.stdout
    # the PUTs in flight finished and were recorded: every accepted PUT has its success, no intent is left open
    entries = project.audit()
    assert Counter(e["model_id"] for e in entries if e["status"] == "success") == accepted
    closed = {e["operation_id"] for e in entries if e["status"] in ("success", "failure")}
    assert [e for e in entries if e["status"] == "pending" and e["operation_id"] not in closed] == []
    # state committed (no journal left over), the lock released
    state = project.state_document()
    assert state is not None and sorted(r["model_id"] for r in state["resources"].values()) == sorted(accepted)
    assert not (project.state_dir / "journal.jsonl").exists()
    shown = project.run("state", "show", "--env", "dev", "--format", "json")
    assert shown.code == 0 and json.loads(shown.stdout)["lock"] is None, str(shown)
    check_records_converge(project, admin, written, accepted)


def interrupt_at(line_event: int, lines: range) -> Callable[..., Any]:
    """A trace function for the main thread raising KeyboardInterrupt at the
    ``line_event``-th line that Executor.run (or a function nested in it) runs
    within ``lines``: where SIGTERM's handler would raise it."""
    seen = 0

    def local(frame: Any, event: str, arg: Any) -> Any:
        nonlocal seen
        if event == "line" and frame.f_lineno in lines:
            seen += 1
            if seen == line_event:
                raise KeyboardInterrupt
        return local

    def trace(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_qualname.startswith("Executor.run") else None

    return trace


def test_an_interrupt_at_any_line_of_the_apply_loop_loses_no_outcome(tmp_path: Path, make_sandbox: Callable[..., Any]) -> None:
    """SIGTERM or Ctrl-C raises in the main thread between any two statements. On a
    busy machine it once landed between taking a finished PUT off the in-flight list
    and counting it: "13 succeeded, 26 not attempted" of 40 changes, and 14 had
    landed. Here the interrupt lands at each line of the loop in turn (in-process,
    planner.app.apply.apply): every change is counted once, as succeeded exactly when it landed."""

    class Approving(Unattended):
        def approve(self, plan: Plan) -> bool:
            return True

    source, first = inspect.getsourcelines(Executor.run)
    start = first + 1 + next(i for i, line in enumerate(source) if line.strip() == "try:")
    end = first + next(i for i, line in enumerate(source) if line.strip().startswith("except KeyboardInterrupt"))
    interrupted_at = 0
    for line_event in range(1, 200):
        sandbox = make_sandbox(rate_limit=30_000, extra_models=3)
        project = ApplyProject(tmp_path / f"at-{line_event}", sandbox.url)
        models = project.add_generated(3)
        environ = {name: value for name, value in project.environ().items() if value is not None}
        sys.settrace(interrupt_at(line_event, range(start, end)))
        try:
            result = apply(project.root, Approving(), env_name="dev", parallelism=2, environ=environ)
        finally:
            sys.settrace(None)
        landed = {SandboxAdmin(sandbox.url).model_of(put) for put in SandboxAdmin(sandbox.url).puts(status=200)}
        assert sorted(o.address for o in result.outcomes) == sorted(models), line_event  # each change once
        assert {o.model_id for o in result.succeeded} == landed, line_event
        assert len(result.skipped) == len(models) - len(landed), line_event
        if result.interrupted is None:
            break  # the loop ran fewer lines than this: every line was tried
        interrupted_at += 1
    assert interrupted_at > 20  # the loop's lines were really interrupted, not skipped over


def test_an_event_whose_delivery_answer_is_lost_keeps_its_id_when_the_outbox_sends_it_again(project: ApplyProject, admin: SandboxAdmin) -> None:
    project.add_generated(1)
    # the receiver records the first delivery, but its answer never reaches llmplan
    admin.faults(rules=[{"match": {"path": "/__sandbox/webhook"}, "effect": "lost_answer", "count": 1}])

    done = project.run("apply", "--env", "dev", "--auto-approve")

    assert done.code == 0 and "not delivered" not in done.stderr, str(done)  # the outbox sent it again at the end of the apply
    deliveries = admin.deliveries()
    events = [admin.verified_event(d) for d in deliveries]
    success = [e for e in project.audit() if e["status"] == "success"]
    assert [e["event_id"] for e in events] == [success[0]["audit_id"]] * 2  # sent twice, one event: a receiver drops the repeat by id
    assert {dict(d["headers"])["webhook-id"] for d in deliveries} == {success[0]["audit_id"]}
    assert project.run("governance", "flush", "--env", "dev").code == 0
    assert len(admin.deliveries()) == 2  # delivered: nothing left to send

"""A hand-edited state is never trusted: the state and the audit trail vouch for each other."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from planner.model.state import State
from tests.apply.project import ApplyProject


@pytest.fixture
def applied(project: ApplyProject) -> ApplyProject:
    project.add_generated(3)
    project.apply()
    return project


def edit_state(project: ApplyProject, *, recompute_checksum: bool) -> None:
    """Lower a model's max_tokens in state.json, as a hand edit would."""
    path = project.state_dir / "state.json"
    text = path.read_text(encoding="utf-8").replace('"max_tokens":1024', '"max_tokens":999', 1)
    if recompute_checksum:  # the plain sha256 anyone can compute
        body = text.split("\n", 1)[1]
        text = f'{{"checksum": "{hashlib.sha256(body.encode()).hexdigest()}",\n{body}'
    path.write_text(text, encoding="utf-8")


def test_a_stale_checksum_stops_plan_and_apply_naming_the_file_and_the_way_out(applied: ApplyProject) -> None:
    edit_state(applied, recompute_checksum=False)
    for args in (("plan", "--env", "dev"), ("apply", "--env", "dev", "--auto-approve")):
        done = applied.run(*args)
        assert done.code == 1, str(done)
        assert f"{applied.state_dir / 'state.json'} was edited outside llmplan: its checksum does not match" in done.stderr
        assert "llmplan refresh --env dev" in done.stderr and "state.json.backup" in done.stderr
        assert "Traceback" not in done.stderr


def test_a_recomputed_checksum_does_not_make_an_edit_pass(applied: ApplyProject) -> None:
    edit_state(applied, recompute_checksum=True)
    assert State.written_by_us((applied.state_dir / "state.json").read_bytes())  # the file's own checksum holds
    plan = applied.run("plan", "--env", "dev")
    assert plan.code == 1 and "does not match the audit entry that vouches for it (state_checksum differ" in plan.stderr, str(plan)
    assert applied.run("apply", "--env", "dev", "--auto-approve").code == 1
    verify = applied.run("audit", "verify", "--env", "dev")
    assert verify.code == 1 and "does not match the audit entry that vouches for it" in verify.stderr


def test_drift_warns_and_still_compares_live_with_the_yaml(applied: ApplyProject) -> None:
    edit_state(applied, recompute_checksum=True)
    done = applied.run("drift", "--env", "dev")
    assert done.code == 0, str(done)  # live still matches the YAML
    assert "does not match the audit entry that vouches for it" in done.stderr
    assert "No drift" in done.stdout


def test_another_environments_state_put_in_place_is_detected(tmp_path: Path, applied: ApplyProject, sandbox: object) -> None:
    other = ApplyProject(tmp_path / "other", applied.gateway_url, env="dev")
    other.add_generated(3)
    other.apply()
    shutil.copy(other.state_dir / "state.json", applied.state_dir / "state.json")  # a swapped lineage
    plan = applied.run("plan", "--env", "dev")
    assert plan.code == 1 and "which is not in its audit trail: it is another environment's state" in plan.stderr, str(plan)
    assert applied.run("audit", "verify", "--env", "dev").code == 1


def test_a_state_stripped_of_its_voucher_is_noticed(applied: ApplyProject) -> None:
    path = applied.state_dir / "state.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    del document["audit_head"], document["checksum"]
    path.write_text(State.from_dict(document).to_json(), encoding="utf-8")  # well formed, checksum and all
    plan = applied.run("plan", "--env", "dev")
    assert plan.code == 1 and "names no audit entry, but the audit trail vouches for serial 1" in plan.stderr, str(plan)


def test_refresh_is_the_way_out_and_vouches_for_the_state_again(applied: ApplyProject) -> None:
    edit_state(applied, recompute_checksum=True)
    refreshed = applied.run("refresh", "--env", "dev")
    assert refreshed.code == 0, str(refreshed)
    assert "does not match the audit entry that vouches for it" in refreshed.stderr  # said, not hidden
    assert applied.run("plan", "--env", "dev", "--detailed-exitcode").code == 0
    assert applied.run("audit", "verify", "--env", "dev").code == 0
    state = json.loads((applied.state_dir / "state.json").read_text(encoding="utf-8"))
    assert all(resource["configuration"]["max_tokens"] == 1024 for resource in state["resources"].values())
    commits = [entry for entry in applied.audit(commits=True) if entry["action"] == "state_commit"]
    assert [entry["serial"] for entry in commits] == [1, 2] and state["audit_head"]["entry_hash"] == commits[-1]["entry_hash"]


@pytest.mark.parametrize("how", ["copied", "linked"])
def test_another_environments_records_copied_or_linked_are_refused_naming_whose_they_are(applied: ApplyProject, how: str) -> None:
    """state/dev/ copied (or symlinked) to state/beta/ for an environment beta with the same models:
    plan, apply and import refuse it, and audit verify fails, naming environment dev."""
    shutil.copytree(applied.env_dir, applied.root / "environments" / "beta")
    beta = applied.root / "state" / "beta"
    if how == "copied":
        shutil.copytree(applied.state_dir, beta)
    else:
        beta.symlink_to(applied.state_dir, target_is_directory=True)
    before = applied.audit_lines()
    for args in (("plan", "--env", "beta"), ("apply", "--env", "beta", "--auto-approve"), ("import", "--env", "beta", "--all")):
        done = applied.run(*args)
        assert done.code == 1, str(done)
        assert "belongs to environment dev, not beta" in done.stderr, str(done)
        assert "Traceback" not in done.stderr
    verify = applied.run("audit", "verify", "--env", "beta")
    assert verify.code == 1 and "belongs to environment dev, not beta" in verify.stdout + verify.stderr, str(verify)
    assert applied.audit_lines() == before  # dev's records untouched through the link
    assert applied.run("plan", "--env", "dev", "--detailed-exitcode").code == 0

"""plan warns when the last apply came from a commit the checkout does not hold (issue 26, item 4).

A clone that had not pulled would plan the teammate's applied change away
without a word; the state records the commit each model was applied from,
and where Git can tell, plan says "pull first". A real Git repository in the
test's folder, the real CLI, the real sandbox.
"""

from __future__ import annotations

import json
import shutil

from tests.plan.e2e_project import SUPPORT, THREE_MODELS, Admin, Project
from tests.plan.fleet import git, git_repository

WARNING = "Warning: the last apply came from a newer commit: pull first."


def test_a_checkout_behind_the_last_apply_is_told_to_pull_first(project: Project, admin: Admin) -> None:
    project.write_models(THREE_MODELS)
    behind = git_repository(project.root)
    git(project.root, "switch", "--quiet", "--create", "teammate")
    project.edit_model("support-bot", "max_tokens: 2048", "max_tokens: 1024")
    git(project.root, "commit", "--quiet", "--all", "--message", "support-bot: fewer tokens")
    ahead = git(project.root, "rev-parse", "HEAD")
    project.apply()  # the teammate applies from their commit
    state = json.loads((project.state_dir / "state.json").read_text(encoding="utf-8"))
    assert {resource["source_commit"] for resource in state["resources"].values()} == {ahead}

    git(project.root, "switch", "--quiet", "main")  # a clone that has not pulled
    assert git(project.root, "rev-parse", "HEAD") == behind
    done = project.run("plan", "--env", "dev")

    assert done.code == 0, done
    assert f"{WARNING} The state of dev records an apply made at " in done.stderr
    assert f"from commit {ahead[:12]} (intent-router, summarizer, support-bot), which this checkout does not contain; a plan made here may undo it." in done.stderr
    assert "      ~ max_tokens: 1024 → 2048\n" in done.stdout  # what it would undo

    git(project.root, "merge", "--quiet", "--ff-only", "teammate")  # pulled
    pulled = project.run("plan", "--env", "dev")
    assert pulled.code == 0 and "Warning" not in pulled.stderr, pulled
    assert pulled.stdout.startswith("No changes."), pulled


def test_a_saved_plan_carries_its_commit_into_the_state(project: Project) -> None:
    project.write_models(THREE_MODELS)
    commit = git_repository(project.root)
    plan_file = project.root / "plan.json"
    assert project.run("plan", "--env", "dev", "--out", str(plan_file)).code == 0
    assert json.loads(plan_file.read_text(encoding="utf-8"))["llmplan"]["source"] == {"commit": commit}

    assert project.run("apply", str(plan_file)).code == 0
    state = json.loads((project.state_dir / "state.json").read_text(encoding="utf-8"))
    assert state["resources"]["support-bot"]["source_commit"] == commit
    assert "Warning" not in project.run("plan", "--env", "dev").stderr  # the checkout holds it


def test_without_git_nothing_is_recorded_and_nothing_is_said(project: Project, admin: Admin) -> None:
    project.write_models(THREE_MODELS)
    project.apply()
    state = json.loads((project.state_dir / "state.json").read_text(encoding="utf-8"))
    assert all("source_commit" not in resource for resource in state["resources"].values())
    plan_file = project.root / "plan.json"
    project.run("plan", "--env", "dev", "--out", str(plan_file))
    assert "source" not in json.loads(plan_file.read_text(encoding="utf-8"))["llmplan"]

    git_repository(project.root)
    project.edit_model("support-bot", "max_tokens: 2048", "max_tokens: 1024")
    git(project.root, "commit", "--quiet", "--all", "--message", "fewer tokens")
    project.apply()
    shutil.rmtree(project.root / ".git")  # the same folder, no Git to ask
    admin.patch(SUPPORT, max_tokens=2048)
    done = project.run("plan", "--env", "dev")
    assert done.code == 0 and "Warning" not in done.stderr, done

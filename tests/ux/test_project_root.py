"""llmplan works from any folder inside a project, as git does: it walks up
from the current directory to the folder holding environments/. When an
environment is not found, the error names the folder searched.

Child processes with a real working directory (no --root, no LLMPLAN_ROOT).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.plan.e2e_project import THREE_MODELS, Project


def llmplan(project: Project, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "planner", *args], cwd=cwd, env=project.child_environ(), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_every_command_finds_the_project_from_a_subfolder(project: Project) -> None:
    project.write_models(THREE_MODELS)
    for cwd in (project.models_dir, project.env_dir, project.root / "environments"):
        done = llmplan(project, cwd, "validate", "--env", "dev")
        assert (done.returncode, done.stdout) == (0, "3 models valid in environment dev\n"), done.stderr
    applied = llmplan(project, project.models_dir, "apply", "--env", "dev", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    # the records land in the project's state/, not under the folder it ran from
    assert (project.root / "state" / "dev" / "state.json").is_file()
    assert not (project.models_dir / "state").exists()
    listed = llmplan(project, project.env_dir, "state", "list", "--env", "dev")
    assert listed.stdout == "intent-router\nsummarizer\nsupport-bot\n", listed.stderr


def test_an_unknown_environment_names_the_folder_searched(project: Project) -> None:
    done = llmplan(project, project.models_dir, "plan", "--env", "prod")
    assert done.returncode == 1
    assert done.stderr.startswith(f"Error: environment 'prod' not found in {project.root.resolve()}/environments/ (available: dev)\n"), done.stderr


def test_outside_any_project_the_error_says_where_it_looked(project: Project, tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere" / "deeper"
    nowhere.mkdir(parents=True)
    done = llmplan(project, nowhere, "validate", "--env", "dev")
    assert done.returncode == 1
    assert done.stderr.startswith(f"Error: environment 'dev' not found: there is no {nowhere.resolve()}/environments/ folder\n"), done.stderr
    assert "Hint: run llmplan in the project folder (the one holding environments/) or any folder below it, or pass --root" in done.stderr


def test_root_and_llmplan_root_are_used_as_given(project: Project, tmp_path: Path) -> None:
    project.write_models(THREE_MODELS)
    other = tmp_path / "other"
    (other / "environments").mkdir(parents=True)
    given = llmplan(project, project.models_dir, "validate", "--env", "dev", "--root", str(other))
    assert given.returncode == 1 and f"not found in {other.resolve()}/environments/ (available: none)" in given.stderr, given.stderr
    environ = {**project.child_environ(), "LLMPLAN_ROOT": str(project.root)}
    done = subprocess.run([sys.executable, "-m", "planner", "validate", "--env", "dev"], cwd=other, env=environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

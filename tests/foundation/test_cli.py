"""`llmplan validate` and the CLI's frame, driven as a user drives them.

In-process through click's runner (fast, every branch), then through a real
subprocess of the installed console script and of ``python -m planner``
(proof that packaging, entry point and exit codes work outside pytest).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from planner.cli import cli
from tests.foundation.foundation_helpers import REPO_ROOT, VALID_MODEL, Project, console_script, run_main

EXAMPLE_ENVIRONMENTS = ("dev", "staging", "prod")

# A broken environment with three problems in two files; what a user must see.
BROKEN_SETTINGS = "gateway: {sandbox: true}\napply:\n  parallelism: 65\n"
BROKEN_MODEL = VALID_MODEL.replace("threshold: 85", "threshold: 140").replace("compliance_mode: strict", "compliance_mode: lenient")
BROKEN_PROBLEMS = [
    {"file": "environments/broken/environment.yaml", "line": 3, "column": None, "path": "apply.parallelism", "message": "65 is greater than the maximum of 64"},
    {"file": "environments/broken/models/support-bot.yaml", "line": 4, "column": None, "path": "safety_filters[0].threshold", "message": "140 is greater than the maximum of 100"},
    {"file": "environments/broken/models/support-bot.yaml", "line": 7, "column": None, "path": "compliance_mode", "message": '"lenient" is not one of: strict, standard, permissive'},
]
BROKEN_TEXT = (
    "Error: environment broken is not valid: 3 problems\n"
    "  environments/broken/environment.yaml:3 apply.parallelism: 65 is greater than the maximum of 64\n"
    "  environments/broken/models/support-bot.yaml:4 safety_filters[0].threshold: 140 is greater than the maximum of 100\n"
    '  environments/broken/models/support-bot.yaml:7 compliance_mode: "lenient" is not one of: strict, standard, permissive\n'
)


def models_in(env: str) -> int:
    """How many model files an example environment holds (counted from disk)."""
    folder = REPO_ROOT / "environments" / env / "models"
    return len([p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and not p.name.startswith(".")])


@pytest.fixture
def broken(project: Project) -> Project:
    project.environment("broken", settings=BROKEN_SETTINGS, models={"support-bot": BROKEN_MODEL})
    return project


# --- in-process, through click's runner ---------------------------------------------


def test_click_runner_validates_the_dev_example() -> None:
    result = CliRunner().invoke(cli, ["validate", "--env", "dev", "--root", str(REPO_ROOT)], env={"LLMPLAN_ROOT": None})

    assert result.exit_code == 0, result.output
    assert result.output == f"{models_in('dev')} models valid in environment dev\n"


@pytest.mark.parametrize("env", EXAMPLE_ENVIRONMENTS)
def test_every_example_environment_is_valid(env: str, no_network: list[object]) -> None:
    run = run_main(["validate", "--env", env, "--root", str(REPO_ROOT)])

    assert (run.code, run.stdout, run.stderr) == (0, f"{models_in(env)} models valid in environment {env}\n", "")


def test_a_broken_environment_prints_every_problem_and_exits_1(broken: Project) -> None:
    run = run_main(["validate", "--env", "broken", "--root", str(broken.root)])

    assert run.code == 1
    assert run.stdout == ""
    assert run.stderr == BROKEN_TEXT


def test_json_lists_every_problem_with_file_line_path_and_message(broken: Project) -> None:
    run = run_main(["validate", "--env", "broken", "--root", str(broken.root), "--format", "json"])

    assert run.code == 1
    document = json.loads(run.stdout)
    assert {key: document[key] for key in ("environment", "valid", "problems", "errored")} == {"environment": "broken", "valid": False, "problems": BROKEN_PROBLEMS, "errored": True}
    assert [(d["file"], d["line"], d["path"]) for d in document["diagnostics"]] == [(p["file"], p["line"], p["path"]) for p in BROKEN_PROBLEMS]


def test_json_of_a_valid_environment(project: Project) -> None:
    project.environment(models={"support-bot": VALID_MODEL})

    run = run_main(["validate", "--env", "corpus", "--root", str(project.root), "--format", "json"])

    assert run.code == 0
    assert json.loads(run.stdout) == {"environment": "corpus", "valid": True, "models": 1, "problems": [], "warnings": []}


def test_an_unknown_environment_lists_the_ones_that_exist(project: Project) -> None:
    for env in ("staging", "dev", "prod"):
        project.environment(env)

    run = run_main(["validate", "--env", "nope", "--root", str(project.root)])

    assert run.code == 1
    # the folder searched is named in full: from a subfolder or with a wrong --root, the user sees where llmplan looked
    assert run.stderr.splitlines()[0] == f"Error: environment 'nope' not found in {project.root.resolve()}/environments/ (available: dev, prod, staging)"
    assert "Traceback" not in run.stderr


def test_an_unknown_environment_in_json_is_a_problem_on_stdout(project: Project) -> None:
    project.environment("dev")

    run = run_main(["validate", "--env", "nope", "--root", str(project.root), "--format", "json"])

    assert run.code == 1
    document = json.loads(run.stdout)
    assert document["valid"] is False
    assert [p["message"] for p in document["problems"]] == [f"environment 'nope' not found in {project.root.resolve()}/environments/ (available: dev)"]


def test_a_root_without_environments_says_there_are_none(tmp_path: Path) -> None:
    run = run_main(["validate", "--env", "dev", "--root", str(tmp_path)])

    assert run.code == 1
    assert f"environment 'dev' not found: there is no {tmp_path.resolve()}/environments/ folder" in run.stderr


def test_the_root_comes_from_option_then_llmplan_root_then_the_current_folder(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project.environment("from-root", models={"a": VALID_MODEL})
    elsewhere = Project(tmp_path / "elsewhere")
    elsewhere.environment("from-env")
    monkeypatch.chdir(project.root)

    from_cwd = run_main(["validate", "--env", "from-root"])
    from_variable = run_main(["validate", "--env", "from-env"], env={"LLMPLAN_ROOT": str(elsewhere.root)})
    option_wins = run_main(["validate", "--env", "from-root", "--root", str(project.root)], env={"LLMPLAN_ROOT": str(elsewhere.root)})

    assert (from_cwd.code, from_cwd.stdout) == (0, "1 model valid in environment from-root\n")
    assert (from_variable.code, from_variable.stdout) == (0, "0 models valid in environment from-env\n")
    assert (option_wins.code, option_wins.stdout) == (0, "1 model valid in environment from-root\n")


def all_commands() -> list[tuple[str, ...]]:
    """Every command path, nested groups included (lazy ones too)."""
    found: list[tuple[str, ...]] = [()]

    def walk(group: click.Group, prefix: tuple[str, ...]) -> None:
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None, name
            found.append(prefix + (name,))
            if isinstance(command, click.Group):
                walk(command, prefix + (name,))

    walk(cli, ())
    return found


# Commands whose help still lacks an example (owned by other issues); strict,
# so this list must shrink as soon as one is fixed.
MISSING_EXAMPLE: dict[tuple[str, ...], str] = {}


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=MISSING_EXAMPLE[c])) if c in MISSING_EXAMPLE else c
        for c in all_commands()
    ],
    ids=lambda c: " ".join(c) or "llmplan",
)
def test_every_command_has_help_with_a_description_and_an_example(command: tuple[str, ...]) -> None:
    run = run_main([*command, "--help"])

    assert run.code == 0, run.stderr
    assert run.stdout.startswith(f"Usage: llmplan {' '.join(command)}".rstrip())
    description = run.stdout.split("\n\n")[1].strip()
    assert description and not description.startswith("Options"), run.stdout
    assert "Example" in run.stdout, f"`llmplan {' '.join(command)} --help` shows no example"


def test_version_is_the_installed_distributions() -> None:
    run = run_main(["--version"])

    assert (run.code, run.stdout) == (0, f"llmplan {version('llmplan')}\n")


@pytest.mark.parametrize(
    "args",
    [
        ["--bogus"],  # unknown option of the group
        ["validate", "--env", "dev", "--bogus"],  # unknown option of a command
        ["validate"],  # missing --env
        ["validate", "--env", "dev", "--format", "yaml"],  # not a choice
        ["valdate", "--env", "dev"],  # unknown command
    ],
)
def test_usage_errors_exit_1_because_2_means_changes_present(args: list[str]) -> None:
    run = run_main(args)

    assert run.code == 1
    assert "Usage: llmplan" in run.stderr and "Error:" in run.stderr
    assert "Traceback" not in run.stderr


def test_debug_shows_the_traceback_of_an_expected_failure(tmp_path: Path) -> None:
    quiet = run_main(["validate", "--env", "nope", "--root", str(tmp_path)])
    loud = run_main(["--debug", "validate", "--env", "nope", "--root", str(tmp_path)])

    assert "Traceback" not in quiet.stderr
    assert "Traceback" in loud.stderr and "EnvironmentNotFound" in loud.stderr
    assert loud.code == quiet.code == 1


# --- the real thing: installed console script, python -m planner -------------------


def run_process(args: list[str], cwd: Path, extra_env: dict[str, str] | None = None, executable: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPLAN_")}
    env.update(extra_env or {})
    return subprocess.run(
        [*(executable or [console_script()]), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_console_script_validates_the_examples_from_the_project_folder() -> None:
    result = run_process(["validate", "--env", "dev"], cwd=REPO_ROOT)

    assert (result.returncode, result.stdout, result.stderr) == (0, f"{models_in('dev')} models valid in environment dev\n", "")


def test_console_script_reports_a_broken_environment_without_traceback(broken: Project, tmp_path: Path) -> None:
    text = run_process(["validate", "--env", "broken"], cwd=tmp_path, extra_env={"LLMPLAN_ROOT": str(broken.root)})
    as_json = run_process(["validate", "--env", "broken", "--root", str(broken.root), "--format", "json"], cwd=tmp_path)

    assert (text.returncode, text.stdout, text.stderr) == (1, "", BROKEN_TEXT)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["problems"] == BROKEN_PROBLEMS


def test_console_script_lists_environments_version_and_refuses_usage_errors() -> None:
    nope = run_process(["validate", "--env", "nope"], cwd=REPO_ROOT)
    shown = run_process(["--version"], cwd=REPO_ROOT)
    typo = run_process(["validate", "--env", "dev", "--bogus"], cwd=REPO_ROOT)

    assert nope.returncode == 1
    assert f"environment 'nope' not found in {REPO_ROOT.resolve()}/environments/ (available: dev, prod, staging)" in nope.stderr
    assert "Traceback" not in nope.stderr
    assert (shown.returncode, shown.stdout) == (0, f"llmplan {version('llmplan')}\n")
    assert typo.returncode == 1 and "No such option '--bogus'" in typo.stderr


def test_python_dash_m_planner_is_the_same_program(tmp_path: Path) -> None:
    result = run_process(["validate", "--env", "dev", "--root", str(REPO_ROOT)], cwd=tmp_path, executable=[sys.executable, "-m", "planner"])

    assert (result.returncode, result.stdout) == (0, f"{models_in('dev')} models valid in environment dev\n")

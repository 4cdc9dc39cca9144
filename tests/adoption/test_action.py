"""The GitHub Action (action.yml at the top of the repository): GitHub's
schema accepts it, it is hardened as the workflows are, its requirements pin
what pyproject.toml asks for, and its steps do what they say: the run step
against llmplan in this test run's environment (quick), the install step
from PyPI by hash into a fresh virtual environment, then a command run
there (an oracle test: make test-oracles).

The steps run as GitHub runs a composite action's steps: bash with the
step's shell options, its env, and the runner's files (RUNNER_TEMP,
GITHUB_PATH, GITHUB_OUTPUT). actions/setup-python is not run: the test's
own Python 3.11 stands in for the one it would set up."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.adoption.adoption_helpers import REPO, Snapshot, clean_environ
from tests.docs.docs_helpers import parse_cli

ACTION = REPO / "action.yml"
REQUIREMENTS = REPO / "action-requirements.txt"
SETUP_PYTHON = "actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97"  # v7.0.0, as in the workflows


def action() -> dict[str, Any]:
    document = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def step(name: str) -> dict[str, Any]:
    (found,) = [step for step in action()["runs"]["steps"] if step.get("name") == name]
    return found


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed beside {sys.executable}: install the test extra (make .venv/.installed-test)")
    return found


# --- the file ---------------------------------------------------------------------


def test_githubs_action_schema_accepts_it() -> None:
    done = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(ACTION)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "ok -- validation done" in done.stdout, done.stdout + done.stderr


def test_githubs_action_schema_refuses_a_broken_action(tmp_path: Path) -> None:
    broken = tmp_path / "action.yml"
    broken.write_text(ACTION.read_text(encoding="utf-8").replace("using: composite", "using: compost"), encoding="utf-8")
    done = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(broken)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "compost" in done.stdout, done.stdout


def test_zizmor_finds_only_the_reviewed_write_to_github_path() -> None:
    """The auditor persona, no ignores: one finding, the line that puts the
    virtual environment's bin/ on the job's PATH. zizmor flags every write to
    GITHUB_PATH it cannot prove constant; this one is $RUNNER_TEMP/llmplan/bin,
    a folder of the runner that nothing of a pull request names."""
    done = subprocess.run(
        [tool("zizmor"), "--offline", "--persona", "auditor", "--no-config", "--no-ignores", "--strict-collection", "--format", "json", str(ACTION)],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )
    findings = json.loads(done.stdout)
    assert [finding["ident"] for finding in findings] == ["github-env"], done.stdout
    assert 'echo "$venv/bin" >> "$GITHUB_PATH"' in step("Install llmplan")["run"]
    assert 'venv="$RUNNER_TEMP/llmplan"' in step("Install llmplan")["run"]


def test_no_expression_is_pasted_into_a_script_and_every_input_comes_through_env() -> None:
    document = action()
    for each in document["runs"]["steps"]:
        assert "${{" not in each.get("run", ""), each.get("name")
    # each input is used, and only in an env: entry, an if: or a with: of setup-python
    text = ACTION.read_text(encoding="utf-8")
    for name in document["inputs"]:
        assert f"inputs.{name}" in text, f"input {name} is never used"
    assert step("Run llmplan")["env"] == {
        "LLMPLAN_COMMAND": "${{ inputs.command }}",
        "SUCCESS_EXIT_CODES": "${{ inputs.success-exit-codes }}",
        "STDOUT_FILE": "${{ inputs.stdout }}",
    }
    assert document["outputs"]["exitcode"]["value"] == "${{ steps.run.outputs.exitcode }}"


def test_the_action_installs_by_hash_from_its_own_commit_with_a_pinned_python_and_no_cache() -> None:
    (python,) = [each for each in action()["runs"]["steps"] if "uses" in each]
    assert python["uses"] == SETUP_PYTHON
    assert python["with"] == {"python-version": "${{ inputs.python-version }}", "update-environment": False}, "no cache:, the job's Python left alone"
    assert action()["inputs"]["python-version"]["default"] == "3.11"
    install = step("Install llmplan")
    assert install["env"] == {"ACTION_PATH": "${{ github.action_path }}", "PYTHON": "${{ steps.python.outputs.python-path }}"}
    lines = [line.strip() for line in install["run"].splitlines()]
    assert '"${pip[@]}" install --quiet --require-hashes --only-binary :all: -r "$ACTION_PATH/action-requirements.txt"' in lines
    assert '"${pip[@]}" install --quiet --no-deps --no-build-isolation --no-index "$ACTION_PATH"' in lines
    assert '"${pip[@]}" check' in lines


def locked() -> dict[str, tuple[str, list[str]]]:
    """name → (version, hashes) of every requirement in action-requirements.txt."""
    text = re.sub(r"\\\n", " ", REQUIREMENTS.read_text(encoding="utf-8"))
    entries = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split()
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)", requirement)
        assert match, f"not pinned to one version: {requirement}"
        hashes = [option.removeprefix("--hash=sha256:") for option in options]
        assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", value) for value in hashes), f"{requirement}: {options}"
        entries[canonicalize_name(match.group(1))] = (match.group(2), hashes)
    return entries


def test_the_requirements_pin_every_dependency_by_hash_and_agree_with_pyproject() -> None:
    entries = locked()
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    # the runtime dependencies, the extra the postgres/ workflows need, and the build backend
    postgres = project["project"]["optional-dependencies"]["postgres"]
    wanted = [Requirement(text) for text in (*project["project"]["dependencies"], *postgres, *project["build-system"]["requires"])]
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        assert name in entries, f"{requirement.name} is not in {REQUIREMENTS.name}: regenerate it (see its header)"
        assert requirement.specifier.contains(entries[name][0]), f"{requirement}: {REQUIREMENTS.name} has {entries[name][0]}"
    assert "llmplan" not in entries, "llmplan itself comes from the action's commit"
    # psycopg[binary]: the compiled libpq wrapper of exactly psycopg's version (--strip-extras writes it as its own line)
    assert entries["psycopg-binary"][0] == entries["psycopg"][0]


# --- the steps ----------------------------------------------------------------------


class Runner:
    """A composite action's steps run as GitHub runs them, in ``workspace``."""

    def __init__(self, tmp_path: Path, workspace: Path) -> None:
        self.workspace = workspace
        self.temp = tmp_path / "runner-temp"
        self.temp.mkdir()
        self.github_path = tmp_path / "github-path"
        self.github_output = tmp_path / "github-output"
        self.github_path.touch()

    def run(self, name: str, **env: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
        each = step(name)
        self.github_output.write_text("", encoding="utf-8")
        script = self.temp.parent / "step.sh"
        script.write_text(each["run"], encoding="utf-8")
        assert each["shell"] == "bash"
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=self.workspace,
            env=clean_environ(RUNNER_TEMP=str(self.temp), GITHUB_PATH=str(self.github_path), GITHUB_OUTPUT=str(self.github_output), **env),
            capture_output=True, text=True, timeout=900,
        )
        outputs = dict(line.split("=", 1) for line in self.github_output.read_text(encoding="utf-8").splitlines() if "=" in line)
        return done, outputs

    def command(self, command: str, success: str = "0", stdout: str = "") -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
        return self.run("Run llmplan", LLMPLAN_COMMAND=command, SUCCESS_EXIT_CODES=success, STDOUT_FILE=stdout)


@pytest.fixture
def with_this_llmplan(tmp_path: Path, config_repo: Path) -> Runner:
    """The run step's virtual environment stood in for by this test run's llmplan."""
    runner = Runner(tmp_path, config_repo)
    bin_dir = runner.temp / "llmplan" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    (bin_dir / "llmplan").symlink_to(tool("llmplan"))
    return runner


def test_the_run_step_reports_the_exit_code_and_fails_only_outside_the_allowed_ones(with_this_llmplan: Runner) -> None:
    run = with_this_llmplan
    done, outputs = run.command("validate --env dev")
    assert (done.returncode, outputs) == (0, {"exitcode": "0"}), done.stderr
    assert done.stdout == "5 models valid in environment dev\n"

    model = run.workspace / "environments" / "dev" / "models" / "support-bot.yaml"
    model.write_text(model.read_text(encoding="utf-8").replace("max_tokens: 2048", "max_tokens:    2048"), encoding="utf-8")
    done, outputs = run.command("fmt --check", success="0 2", stdout="fmt.txt")
    assert (done.returncode, outputs) == (0, {"exitcode": "2"}), done.stderr
    assert (run.workspace / "fmt.txt").read_text(encoding="utf-8") == "environments/dev/models/support-bot.yaml\n"
    done, outputs = run.command("llmplan fmt --check")  # "llmplan" in front is taken as written, and 2 is not allowed by default
    assert (done.returncode, outputs) == (1, {"exitcode": "2"})
    assert "::error title=llmplan::llmplan exited with code 2, which this step does not allow (success-exit-codes)" in done.stdout

    done, outputs = run.command("fmt --check", success="0,2")
    assert done.returncode == 1 and 'success-exit-codes takes exit codes separated by spaces, such as "0 2"' in done.stdout


def test_the_command_line_is_split_but_never_given_to_a_shell(with_this_llmplan: Runner) -> None:
    run = with_this_llmplan
    marker = run.workspace / "ran"
    done, outputs = run.command(f"validate 'environments/dev/models/support bot.yaml' \"$HOME/x.yaml\" $(touch {marker}) ; touch {marker}")
    assert (done.returncode, outputs) == (1, {"exitcode": "1"})
    # every word reached llmplan as written: the quoted path with its space, $HOME and $( ) unexpanded, ; a word
    assert "Error: $HOME/x.yaml, $(touch, " in done.stderr and "are not inside an environment" in done.stderr, done.stderr
    assert not marker.exists()


def test_without_a_command_nothing_runs() -> None:
    assert step("Run llmplan")["if"] == "inputs.command != ''"
    assert action()["inputs"]["command"] == {"description": action()["inputs"]["command"]["description"], "required": False, "default": ""}


def test_the_example_command_of_the_header_is_one_the_cli_accepts() -> None:
    (line,) = [line for line in ACTION.read_text(encoding="utf-8").splitlines() if line.startswith("#       command: ")]
    assert parse_cli(line.removeprefix("#       command: ").split()).command.name == "validate"


@pytest.mark.oracle
@pytest.mark.slow(reason="pip installs llmplan and its dependencies by hash into a virtual environment of its own, as the action does")
def test_the_action_installs_llmplan_by_hash_in_a_virtual_environment_of_its_own(tmp_path: Path, snapshot: Snapshot, config_repo: Path) -> None:
    run = Runner(tmp_path, config_repo)
    done, _ = run.run("Install llmplan", ACTION_PATH=str(snapshot.path), PYTHON=sys.executable)
    assert done.returncode == 0, done.stdout + done.stderr
    venv = run.temp / "llmplan"
    assert done.stdout.strip().endswith("llmplan 0.1.0"), done.stdout
    assert run.github_path.read_text(encoding="utf-8") == f"{venv / 'bin'}\n", "later steps find llmplan on PATH"

    # exactly the pinned distributions, and llmplan from the action's commit, not from this checkout
    listed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True, timeout=120, env=clean_environ())
    installed = {canonicalize_name(each["name"]): each["version"] for each in json.loads(listed.stdout)}
    pinned = {name: version for name, (version, _) in locked().items()}
    assert {name: version for name, version in installed.items() if name not in ("llmplan", "pip", "setuptools")} == pinned
    where = subprocess.run([str(venv / "bin" / "python"), "-I", "-c", "import planner; print(planner.__file__)"], capture_output=True, text=True, timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout

    # a command in the configuration repository, as a workflow's step gives it
    done, outputs = run.command("validate --env prod --format json", stdout="validate.json")
    assert (done.returncode, outputs) == (0, {"exitcode": "0"}), done.stderr
    assert json.loads((config_repo / "validate.json").read_text(encoding="utf-8"))["models"] == 4

    # a second use of the action in the same job installs nothing again
    done, _ = run.run("Install llmplan", ACTION_PATH=str(snapshot.path), PYTHON=sys.executable)
    assert done.returncode == 0 and "llmplan is installed already" in done.stdout, done.stdout + done.stderr
    assert os.access(venv / "bin" / "llmplan", os.X_OK)

"""The pre-commit hooks (.pre-commit-hooks.yaml): pre-commit accepts the
manifest, each hook gets the files it should, its command line is one the
CLI accepts, and the configuration the CI README shows is valid. Then, as an
oracle test (make test-oracles), `pre-commit try-repo` of this project in a
configuration repository that holds only environments/: pre-commit builds
llmplan in a virtual environment of its own and runs both hooks on what a
commit changes."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.adoption.adoption_helpers import REPO, Snapshot, clean_environ, git
from tests.docs.docs_helpers import code_blocks, command_path, parse_cli

HOOKS = REPO / ".pre-commit-hooks.yaml"
CI_README = REPO / "examples" / "ci" / "github-actions" / "README.md"


def pre_commit() -> str:
    found = Path(sys.executable).parent / "pre-commit"
    if not found.exists():
        pytest.fail(f"pre-commit is not installed beside {sys.executable}: install the test extra (make .venv/.installed-test)")
    return str(found)


def hooks() -> dict[str, dict[str, object]]:
    return {hook["id"]: hook for hook in yaml.safe_load(HOOKS.read_text(encoding="utf-8"))}


def test_pre_commit_accepts_the_manifest() -> None:
    done = subprocess.run([pre_commit(), "validate-manifest", str(HOOKS)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(hooks()) == ["llmplan-validate", "llmplan-fmt"]


@pytest.mark.parametrize(
    ("path", "validate", "fmt"),
    [
        ("environments/prod/models/support-bot.yaml", True, True),
        ("environments/prod/models/support-bot.yml", True, True),
        ("environments/prod/environment.yaml", True, True),
        ("environments/prod/models/.draft.yaml", True, False),  # validate warns about a hidden model file; fmt leaves it
        ("environments/prod/README.md", True, False),  # an environment's other file: its environment is validated
        ("environments/README.md", False, False),  # not inside an environment
        ("policies/checkov/llm_strict_compliance.yaml", False, False),
        ("state/prod/state.json", False, False),
        ("docs/environments/prod/models/a.yaml", False, False),  # only the top-level environments/
    ],
)
def test_each_hook_gets_the_files_it_checks(path: str, validate: bool, fmt: bool) -> None:
    # pre-commit passes a changed file to a hook when re.search(files, path) matches (and exclude does not)
    found = {hook_id: bool(re.search(str(hook["files"]), path)) and not re.search(str(hook.get("exclude", "^$")), path) for hook_id, hook in hooks().items()}
    assert found == {"llmplan-validate": validate, "llmplan-fmt": fmt}


def test_each_hook_is_an_offline_llmplan_command_the_cli_accepts() -> None:
    for hook_id, expected in (("llmplan-validate", "validate"), ("llmplan-fmt", "fmt")):
        hook = hooks()[hook_id]
        assert hook["language"] == "python" and hook.get("pass_filenames", True) is True
        program, *args = shlex.split(str(hook["entry"]))
        assert program == "llmplan"
        context = parse_cli([*args, "environments/prod/models/support-bot.yaml", "environments/dev/environment.yaml"])
        assert command_path(context) == expected
        assert [str(path) for path in context.params["paths"]] == ["environments/prod/models/support-bot.yaml", "environments/dev/environment.yaml"]
    assert parse_cli(shlex.split(str(hooks()["llmplan-fmt"]["entry"]))[1:]).params["check"], "the hook reports; it never rewrites a commit"


@pytest.mark.parametrize("page", [REPO / "README.md", CI_README], ids=lambda page: str(page.relative_to(REPO)))
def test_the_configuration_the_readmes_show_is_valid_and_pins_the_workflows_commit(tmp_path: Path, page: Path) -> None:
    (shown,) = [body for language, body in code_blocks(page.read_text(encoding="utf-8")) if language == "yaml" and "\nrepos:\n" in f"\n{body}"]
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_text(shown, encoding="utf-8")
    done = subprocess.run([pre_commit(), "validate-config", str(config)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    (repo,) = yaml.safe_load(shown)["repos"]
    assert [hook["id"] for hook in repo["hooks"]] == list(hooks())
    plan = (REPO / "examples" / "ci" / "github-actions" / "plan.yml").read_text(encoding="utf-8")
    assert f"uses: your-org/llmplan@{repo['rev']} # v0.1.0" in plan, "the hooks and the workflows run the same llmplan"


# --- pre-commit try-repo, in a configuration repository -------------------------------


def try_repo(snapshot: Snapshot, config: Path, pre_commit_home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`pre-commit try-repo` of llmplan at the snapshot's commit, on the staged files (or --all-files)."""
    return subprocess.run(
        [pre_commit(), "try-repo", str(snapshot.path), "--ref", snapshot.commit, "--color", "never", *args],
        cwd=config, capture_output=True, text=True, timeout=900,
        env=clean_environ(PRE_COMMIT_HOME=str(pre_commit_home), HOME=str(pre_commit_home.parent)),
    )


def result(output: str, hook: str) -> str:
    match = re.search(rf"^llmplan {hook}\.+(Passed|Failed|\(no files to check\)Skipped)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pre-commit's store, shared by this module's runs: llmplan is built once for the snapshot's commit."""
    return tmp_path_factory.mktemp("pre-commit-home") / "store"


@pytest.mark.oracle
@pytest.mark.slow(reason="pre-commit try-repo builds a virtual environment with llmplan for the hooks, as a config repository does")
def test_the_hooks_pass_a_valid_repository_and_fail_a_typo_naming_file_line_and_field(snapshot: Snapshot, config_repo: Path, pre_commit_home: Path) -> None:
    assert sorted(path.name for path in config_repo.iterdir()) == [".git", "environments"]
    done = try_repo(snapshot, config_repo, pre_commit_home, "--all-files")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (result(done.stdout, "validate"), result(done.stdout, "fmt")) == ("Passed", "Passed")

    model = config_repo / "environments" / "prod" / "models" / "support-bot.yaml"
    model.write_text(model.read_text(encoding="utf-8").replace("compliance_mode: strict", "compliance_mode: stirct"), encoding="utf-8")
    git("add", "--all", cwd=config_repo)
    done = try_repo(snapshot, config_repo, pre_commit_home)
    assert done.returncode == 1
    assert (result(done.stdout, "validate"), result(done.stdout, "fmt")) == ("Failed", "Passed")
    assert 'environments/prod/models/support-bot.yaml:10 compliance_mode: "stirct" is not one of: strict, standard, permissive' in done.stdout, done.stdout


@pytest.mark.oracle
@pytest.mark.slow(reason="pre-commit try-repo builds a virtual environment with llmplan for the hooks, as a config repository does")
def test_the_hooks_check_only_what_the_commit_changes(snapshot: Snapshot, config_repo: Path, pre_commit_home: Path) -> None:
    # prod is broken on the branch already; a commit that touches only dev is judged on dev
    broken = config_repo / "environments" / "prod" / "models" / "summarizer.yaml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("max_tokens: 4096", "max_tokens: lots"), encoding="utf-8")
    git("commit", "--quiet", "--no-verify", "--all", "-m", "broken prod", cwd=config_repo)
    messy = config_repo / "environments" / "dev" / "models" / "summarizer.yaml"
    messy.write_text(messy.read_text(encoding="utf-8").replace("max_tokens: 4096", "max_tokens:    4096"), encoding="utf-8")
    git("add", "--all", cwd=config_repo)

    done = try_repo(snapshot, config_repo, pre_commit_home)
    assert done.returncode == 1
    assert (result(done.stdout, "validate"), result(done.stdout, "fmt")) == ("Passed", "Failed")
    assert "environments/dev/models/summarizer.yaml\n--- a/environments/dev/models/summarizer.yaml\n" in done.stdout, done.stdout
    assert "-max_tokens:    4096\n+max_tokens: 4096\n" in done.stdout
    assert "environments/prod" not in done.stdout, "prod was not part of the commit"

    # the whole repository: now prod's problem is found, with its line and field
    done = try_repo(snapshot, config_repo, pre_commit_home, "--all-files")
    assert result(done.stdout, "validate") == "Failed"
    assert 'environments/prod/models/summarizer.yaml:7 max_tokens: "lots" is not an integer' in done.stdout, done.stdout

"""validate and fmt take the files a pre-commit hook passes: PATHs under
environments/<env>/ select the environments to validate and the files to
format, so a commit is checked where it changed and nowhere else.

Offline: the real CLI as a child process, in a copy of the example
environments, from the folder pre-commit runs hooks in (the repository's
top), with relative paths as pre-commit gives them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def llmplan(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "planner", *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A configuration repository: the example environments and nothing else."""
    root = tmp_path / "llm-config"
    shutil.copytree(REPO / "environments", root / "environments")
    (root / "README.md").write_text("# our models\n", encoding="utf-8")
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, path
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_validate_checks_only_the_environments_holding_the_paths(config: Path) -> None:
    edit(config / "environments" / "prod" / "models" / "summarizer.yaml", "max_tokens:", "max_tokns:")  # prod is broken

    done = llmplan(config, "validate", "environments/dev/models/support-bot.yaml", "environments/dev/environment.yaml")
    assert (done.returncode, done.stdout) == (0, "5 models valid in environment dev\n"), done.stderr  # prod is not read

    done = llmplan(config, "validate", "environments/dev/models/support-bot.yaml", "environments/prod/models/translator.yaml")
    assert done.returncode == 1
    assert done.stdout == "5 models valid in environment dev\n"  # the valid one is still said
    assert done.stderr.startswith("Error: environment prod is not valid: 2 problems\n"), done.stderr
    assert "  environments/prod/models/summarizer.yaml:7 max_tokns: unknown field 'max_tokns'" in done.stderr

    # a folder: every environment it is in; environments/ itself: all of them
    assert llmplan(config, "validate", "environments/staging/models").stdout == "3 models valid in environment staging\n"
    done = llmplan(config, "validate", "environments/")
    assert done.returncode == 1 and done.stdout == "5 models valid in environment dev\n3 models valid in environment staging\n"


def test_every_broken_environment_is_reported_in_one_error(config: Path) -> None:
    edit(config / "environments" / "prod" / "models" / "summarizer.yaml", "max_tokens: 4096", "max_tokens: lots")
    edit(config / "environments" / "dev" / "models" / "support-bot.yaml", "action: redact", "action: redcat")
    done = llmplan(config, "validate", "environments/prod/", "environments/dev/models/support-bot.yaml", "--format", "json")
    assert done.returncode == 1
    document = json.loads(done.stdout)  # one document: the error, every problem of both
    assert (document["valid"], document["environment"]) == (False, None)
    assert [(p["file"], p["line"], p["path"]) for p in document["problems"]] == [
        ("environments/dev/models/support-bot.yaml", 5, "safety_filters[0].action"),
        ("environments/prod/models/summarizer.yaml", 7, "max_tokens"),
    ]
    assert "Error: environments prod, dev are not valid: 2 problems" in done.stderr


def test_validate_json_of_several_environments_is_one_document(config: Path) -> None:
    done = llmplan(config, "validate", "environments/prod", "environments/dev", "--format", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["valid"] is True
    assert {name: member["models"] for name, member in document["environments"].items()} == {"prod": 4, "dev": 5}


def test_paths_are_relative_to_where_llmplan_runs(config: Path) -> None:
    done = llmplan(config / "environments" / "dev", "validate", "models/support-bot.yaml")
    assert (done.returncode, done.stdout) == (0, "5 models valid in environment dev\n"), done.stderr


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["README.md"], "Error: README.md is not inside an environment (a folder under {root}/environments/)\n"),
        (["environments/dev/models/a.yaml", "../elsewhere.yaml", "README.md"], "Error: ../elsewhere.yaml, README.md are not inside an environment"),
        (["environments/qa/models/a.yaml"], "Error: environment 'qa' not found in {root}/environments/ (available: dev, prod, staging)\n"),
        ([], "Error: give --env ENV (repeatable), --all, --changed-from GIT_REF, or PATHs: files or folders under environments/<env>/\n"),
    ],
)
def test_a_path_outside_any_environment_is_named(config: Path, args: list[str], error: str) -> None:
    for command in (["validate"], ["fmt", "--check"]) if args else (["validate"],):
        done = llmplan(config, *command, *args)
        assert done.returncode == 1, done
        assert error.format(root=config.resolve()) in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and done.stdout == ""
    if args and "qa" not in args[0]:
        assert "Hint: give files or folders under environments/<env>/ (a pre-commit hook: limit it with files: ^environments/)" in done.stderr


def test_fmt_checks_and_rewrites_only_the_files_named(config: Path) -> None:
    dev = config / "environments" / "dev" / "models" / "support-bot.yaml"
    prod = config / "environments" / "prod" / "models" / "summarizer.yaml"
    edit(dev, "max_tokens: 2048", "max_tokens:    2048")
    edit(prod, "max_tokens: 4096", "max_tokens:   4096")
    prod_before = prod.read_text(encoding="utf-8")

    done = llmplan(config, "fmt", "--check", "environments/dev/models/support-bot.yaml", "environments/dev/environment.yaml")
    assert (done.returncode, done.stdout) == (2, "environments/dev/models/support-bot.yaml\n"), done.stderr
    done = llmplan(config, "fmt", "--check", "environments/prod/models/translator.yaml")
    assert (done.returncode, done.stdout) == (0, ""), done.stderr  # summarizer.yaml is not looked at
    done = llmplan(config, "fmt", "--check", "environments/prod/models/", "environments/dev")
    assert (done.returncode, done.stdout) == (2, "environments/prod/models/summarizer.yaml\nenvironments/dev/models/support-bot.yaml\n"), done.stderr

    done = llmplan(config, "fmt", "environments/dev/models/support-bot.yaml")
    assert (done.returncode, done.stdout) == (0, "environments/dev/models/support-bot.yaml\n"), done.stderr
    assert "max_tokens: 2048\n" in dev.read_text(encoding="utf-8")
    assert prod.read_text(encoding="utf-8") == prod_before


def test_fmt_refuses_a_file_it_does_not_format(config: Path) -> None:
    (config / "environments" / "dev" / "NOTES.md").write_text("notes\n", encoding="utf-8")
    done = llmplan(config, "fmt", "--check", "environments/dev/NOTES.md", "environments/dev/models/gone.yaml", "environments/dev/models/support-bot.yaml")
    assert done.returncode == 1
    assert done.stderr.startswith(
        "Error: not an environment file: environments/dev/NOTES.md, environments/dev/models/gone.yaml (no such file); "
        "llmplan fmt formats environments/<env>/environment.yaml and environments/<env>/models/*.yaml\n"
    ), done.stderr

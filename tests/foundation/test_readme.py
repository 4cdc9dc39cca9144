"""What the README says about environments, validate and exit codes is true."""

from __future__ import annotations

import re

import pytest

from planner.model.errors import EXIT_CHANGES, EXIT_ERROR, EXIT_OK
from tests.foundation.foundation_helpers import REPO_ROOT, Project, run_main

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.M | re.S)


def test_the_readme_model_example_is_valid_where_it_says_it_lives(project: Project, no_network: list[object]) -> None:
    """The example names its file (environments/<env>/models/<address>.yaml); it
    must pass that environment's settings and policy, not just the schema."""
    (example,) = code_blocks(section("An environment"), "yaml")
    named = re.match(r"# environments/([a-z0-9_-]+)/models/([a-z0-9_-]+)\.yaml", example)
    assert named, example.splitlines()[0]
    env, address = named.groups()
    settings = (REPO_ROOT / "environments" / env / "environment.yaml").read_text(encoding="utf-8")
    project.environment(env, settings=settings, models={address: example})

    run = run_main(["validate", "--env", env, "--root", str(project.root)])

    assert (run.code, run.stdout) == (0, f"1 model valid in environment {env}\n"), run.stderr


VALIDATE_COMMANDS = [
    line.split("#")[0].split() for block in code_blocks(README, "sh") for line in block.splitlines() if line.startswith("llmplan validate")
]


def test_the_readme_shows_validate() -> None:
    assert VALIDATE_COMMANDS


@pytest.mark.parametrize("command", VALIDATE_COMMANDS, ids=" ".join)
def test_the_readme_validate_commands_work_on_the_examples(command: list[str], no_network: list[object], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)  # a PATH is relative to the current folder: the project's top, as the README runs them
    run = run_main([*command[1:], "--root", str(REPO_ROOT)])

    assert run.code == EXIT_OK, run.stderr


def test_the_layout_is_the_one_the_examples_use() -> None:
    """environment.yaml plus models/<address>.yaml, each file pointing editors at its schema."""
    environments = sorted(p for p in (REPO_ROOT / "environments").iterdir() if p.is_dir())
    assert [p.name for p in environments] == ["dev", "prod", "staging"]
    for env in environments:
        settings = env / "environment.yaml"
        models = sorted((env / "models").glob("*.yaml"))
        assert settings.is_file() and models, env
        for path, schema in [(settings, "environment.schema.json"), *((m, "model-configuration.schema.json") for m in models)]:
            first = path.read_text(encoding="utf-8").splitlines()[0]
            match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
            assert match, f"{path}: first line is {first!r}"
            target = (path.parent / match.group(1)).resolve()
            assert target == (REPO_ROOT / "schemas" / schema).resolve() and target.is_file(), path


def test_the_exit_code_table_matches_the_code() -> None:
    rows = dict(re.findall(r"^\| (\d) \| (.+?) \|$", section("Exit codes"), re.M))

    assert sorted(int(code) for code in rows) == [EXIT_OK, EXIT_ERROR, EXIT_CHANGES] == [0, 1, 2]
    assert "valid" in rows["0"]
    assert "file, line and field" in rows["1"]
    assert "changes" in rows["2"] and "drift" in rows["2"]

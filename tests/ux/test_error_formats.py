"""A command asked for JSON or markdown reports its failure in that format on
stdout, so a machine reader or a PR comment is never left with nothing:
Terraform's diagnostics (``{"errored": true, "diagnostics": [...]}``) or an
error block ready for a PR comment, exit 1, the message on stderr as always.

Every command that takes --format json/markdown (plan, drift, validate,
show), failing before its body runs (a bad option, an unknown one, a missing
one) and inside it (unknown environment, broken YAML, a gateway that refuses
the credentials, broken plan file). Real CLI; the gateway is the sandbox over HTTP.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.plan.e2e_project import THREE_MODELS, Project

DIAGNOSTIC_KEYS = {"severity", "summary", "detail", "file", "line", "path"}

FORMATS = {
    "plan": ("json", "markdown"),
    "drift": ("json", "markdown"),
    "validate": ("json",),
    "show": ("json", "markdown"),
}


def command_args(command: str, project: Project) -> list[str]:
    return [command, str(project.root / "plan.json")] if command == "show" else [command, "--env", "dev"]


WRONG_SECRET = {"GENESYSCLOUD_OAUTHCLIENT_SECRET": "not-the-secret"}


def failing(command: str, output_format: str, project: Project) -> dict[str, list[str]]:
    """Ways each command fails, before and inside its body, as argument lists
    (the "refused credentials" case runs with a wrong client secret)."""
    base = command_args(command, project)
    cases = {
        # click refuses these before the command runs
        "unknown option": [*base, "--format", output_format, "--bogus"],
        "unknown option before --format": [*base, "--bogus", "--format", output_format],
    }
    if command == "show":
        cases["missing argument"] = ["show", "--format", output_format]
        cases["missing plan file"] = ["show", str(project.root / "missing.json"), "--format", output_format]
        cases["broken plan file"] = ["show", str(project.root / "broken.json"), "--format", output_format]
    else:
        cases["missing --env"] = [command, "--format", output_format]
        cases["unknown environment"] = [command, "--env", "nope", "--format", output_format]
        cases["broken YAML"] = [command, "--env", "broken", "--format", output_format]
    if command in ("plan", "drift"):
        cases["bad option value"] = [*base, "--format", output_format, "--parallelism", "0"]
        cases["refused credentials"] = [*base, "--format", output_format]
    return cases


@pytest.fixture
def broken_project(project: Project) -> Project:
    """dev is fine; broken has a YAML error; broken.json is not a plan."""
    project.write_models(THREE_MODELS)
    (project.root / "broken.json").write_text('{"format_version": "1.0"', encoding="utf-8")
    broken = project.root / "environments" / "broken"
    (broken / "models").mkdir(parents=True)
    (broken / "environment.yaml").write_text("gateway:\n  sandbox: true\n", encoding="utf-8")
    (broken / "models" / "bot.yaml").write_text("model_id: a1b2c3d4-e5f6-7890-abcd-ef1234567890\nmax_tokens: 1: 2\ncompliance_mode: strict\n", encoding="utf-8")
    return project


@pytest.mark.parametrize(("command", "output_format"), [(c, f) for c, formats in FORMATS.items() for f in formats])
def test_every_failure_is_reported_in_the_requested_format(broken_project: Project, command: str, output_format: str) -> None:
    for case, args in failing(command, output_format, broken_project).items():
        done = broken_project.run(*args, env=WRONG_SECRET if case == "refused credentials" else None)
        assert done.code == 1, (case, str(done))
        assert "Error: " in done.stderr and "Traceback" not in done.stderr, (case, str(done))
        if output_format == "json":
            document: dict[str, Any] = json.loads(done.stdout)
            assert document["errored"] is True, case
            assert document["diagnostics"], case
            for diagnostic in document["diagnostics"]:
                assert DIAGNOSTIC_KEYS <= set(diagnostic), (case, diagnostic)
                assert diagnostic["severity"] == "error" and diagnostic["summary"], (case, diagnostic)
        else:
            assert done.stdout.startswith(f"### llmplan {command}"), (case, done.stdout)
            assert " · failed\n\n> [!CAUTION]\n> " in done.stdout, (case, done.stdout)


def test_a_yaml_error_in_json_points_at_file_line_and_column(broken_project: Project) -> None:
    done = broken_project.run("plan", "--env", "broken", "--format", "json")
    assert done.code == 1, done
    (diagnostic,) = json.loads(done.stdout)["diagnostics"]
    assert (diagnostic["file"], diagnostic["line"], diagnostic["column"]) == ("environments/broken/models/bot.yaml", 2, 14)
    assert "YAML syntax error" in diagnostic["summary"]


def test_a_usage_error_in_markdown_is_a_ready_pr_comment(broken_project: Project) -> None:
    done = broken_project.run("plan", "--env", "dev", "--format", "markdown", "--parallelism", "0")
    assert done.code == 1, done
    assert done.stdout == (
        "### llmplan plan · `dev` · failed\n\n"
        "> [!CAUTION]\n"
        "> Invalid value for '--parallelism': 0 is not in the range 1<=x<=64.\n\n"
        "Hint: see `llmplan plan --help`\n"
    )


def test_text_failures_keep_stdout_empty(broken_project: Project) -> None:
    done = broken_project.run("plan", "--env", "dev", "--parallelism", "0")
    assert (done.code, done.stdout) == (1, "")
    assert "Invalid value for '--parallelism'" in done.stderr

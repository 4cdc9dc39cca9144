"""Small untruths fixed, and shell completion as the README documents it.

apply --force does not tell the user to re-run with --force; the metrics
line tells creates from updates. Real CLI against the sandbox over HTTP;
completion through a child process, as a shell calls it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.plan.e2e_project import SUMMARIZER, THREE_MODELS, Project

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_apply_force_says_it_is_lifting_the_limit_not_how_to_lift_it(project: Project) -> None:
    project.write_environment(max_change_percent=50)
    project.write_models(THREE_MODELS)
    refused = project.run("apply", "--env", "dev", "--auto-approve")
    assert refused.code == 1 and "review the plan and re-run with --force" in refused.stderr, refused
    forced = project.run("apply", "--env", "dev", "--auto-approve", "--force")
    assert forced.code == 0, forced
    assert "--force" in forced.stdout and "re-run with --force" not in forced.stdout + forced.stderr
    assert forced.stdout.startswith("Warning: 3 of 3 models would change (100 %), over the 50 % limit of this environment; applying anyway, as --force asks.\n")


def test_the_metrics_line_tells_creates_from_updates(project: Project) -> None:
    project.write_models(THREE_MODELS)
    first = project.apply()
    assert "metrics: 3 requests (3 creates, 0 updates), 3 succeeded, 0 failed (success rate 100.0 %)\n" in first.stdout
    project.edit_model("summarizer", "max_tokens: 4096", "max_tokens: 3000")
    second = project.apply()
    assert "metrics: 1 request (0 creates, 1 update), 1 succeeded, 0 failed (success rate 100.0 %)\n" in second.stdout
    assert SUMMARIZER in second.stdout  # the headline names the model


def test_the_readme_lists_one_command_per_line() -> None:
    commands = README[README.index("## Commands"):].split("```")[1]
    assert "state show --env prod | force-unlock" not in commands
    for line in commands.strip().splitlines()[1:]:
        assert line.startswith("llmplan "), line
        assert not re.search(r"\| (llmplan |[a-z-]+ --env)", line), f"reads as a pipe: {line}"
    for command in ("llmplan state show --env prod", "llmplan state list --env prod", "llmplan force-unlock --env prod LOCK_ID", "llmplan fmt", "llmplan version"):
        assert command in commands, command


def completion(*words: str, **extra: str) -> list[str]:
    environ = {**os.environ, "COMP_WORDS": " ".join(["llmplan", *words]), "COMP_CWORD": str(len(words)), "_LLMPLAN_COMPLETE": "bash_complete", **extra}
    done = subprocess.run([sys.executable, "-c", "from planner.cli import main; main()"], env=environ, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return [line.split(",", 1)[1] for line in done.stdout.splitlines()]


def test_shell_completion_completes_commands_options_and_environments() -> None:
    script = subprocess.run([sys.executable, "-c", "from planner.cli import main; main()"], env={**os.environ, "_LLMPLAN_COMPLETE": "bash_source"}, capture_output=True, text=True, timeout=60)
    assert script.returncode == 0 and "_llmplan_completion()" in script.stdout, script.stderr
    assert "_LLMPLAN_COMPLETE=bash_source llmplan" in README  # the README says how to install it
    assert completion("pl") == ["plan"]
    assert completion("state", "") == ["list", "migrate", "mv", "rm", "show"]
    assert set(completion("drift", "--fail")) == {"--fail-on-weakening", "--fail-on-unmanaged"}
    assert completion("plan", "--env", "") == ["dev", "prod", "staging"]  # the project's environments
    assert completion("plan", "--env", "p") == ["prod"]

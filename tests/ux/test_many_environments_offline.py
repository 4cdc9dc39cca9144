"""validate and fmt over many environments (issue 26): --env repeated, --all, --changed-from GIT_REF.

Offline: the real CLI as a child process in a copy of the example
environments made a real Git repository, as a pull request's job sees it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.plan.fleet import git, git_repository
from tests.ux.test_changed_paths import REPO, edit, llmplan


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A configuration repository (the example environments), committed on main, a pull request's branch checked out."""
    root = tmp_path / "llm-config"
    shutil.copytree(REPO / "environments", root / "environments")
    git_repository(root)
    git(root, "switch", "--quiet", "--create", "pull-request")
    return root


def test_validate_all_checks_every_environment(config: Path) -> None:
    done = llmplan(config, "validate", "--all")
    assert (done.returncode, done.stdout) == (0, "5 models valid in environment dev\n4 models valid in environment prod\n3 models valid in environment staging\n"), done.stderr

    document = json.loads(llmplan(config, "validate", "--all", "--format", "json").stdout)
    assert document["valid"] is True and {name: member["models"] for name, member in document["environments"].items()} == {"dev": 5, "prod": 4, "staging": 3}


def test_validate_json_of_several_with_one_broken_is_one_document_with_a_member_each(config: Path) -> None:
    edit(config / "environments" / "prod" / "models" / "summarizer.yaml", "max_tokens: 4096", "max_tokens: lots")

    done = llmplan(config, "validate", "--env", "dev", "--env", "prod", "--format", "json")

    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert (document["valid"], document["errored"]) == (False, True)
    assert [(p["file"], p["path"]) for p in document["problems"]] == [("environments/prod/models/summarizer.yaml", "max_tokens")]
    assert document["environments"]["dev"] == {"valid": True, "models": 5, "problems": [], "warnings": []}
    assert document["environments"]["prod"]["valid"] is False
    assert [p["line"] for p in document["environments"]["prod"]["problems"]] == [7]
    assert done.stderr.startswith("Error: environment prod is not valid: 1 problem\n")


def test_validate_changed_from_checks_what_the_pull_request_touches(config: Path) -> None:
    nothing = llmplan(config, "validate", "--changed-from", "main")
    assert (nothing.returncode, nothing.stdout) == (0, "No environment has a file that differs from main: nothing to validate.\n"), nothing.stderr
    assert json.loads(llmplan(config, "validate", "--changed-from", "main", "--format", "json").stdout) == {"valid": True, "environments": {}}

    edit(config / "environments" / "staging" / "models" / "support-bot.yaml", "action: redact", "action: redcat")
    done = llmplan(config, "validate", "--changed-from", "main")
    assert done.returncode == 1 and done.stdout == ""  # only staging, and it is broken
    assert "environments/staging/models/support-bot.yaml:" in done.stderr and "redcat" in done.stderr

    git(config, "commit", "--quiet", "--all", "--message", "staging")
    edit(config / "environments" / "staging" / "models" / "support-bot.yaml", "action: redcat", "action: block")
    git(config, "commit", "--quiet", "--all", "--message", "staging, fixed")
    (config / "environments" / "dev" / "models" / "new-bot.yaml").write_text((config / "environments" / "dev" / "models" / "summarizer.yaml").read_text(encoding="utf-8").replace("b2c3d4e5", "b2c3d4e6"), encoding="utf-8")
    done = llmplan(config, "validate", "--changed-from", "main", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(done.stdout)["environments"]) == ["dev", "staging"]  # a commit since main, and an untracked file


def test_fmt_changed_from_formats_only_the_changed_environments(config: Path) -> None:
    for env in ("dev", "prod"):
        edit(config / "environments" / env / "models" / "summarizer.yaml", "max_tokens: 4096", "max_tokens:    4096")
    git(config, "commit", "--quiet", "--all", "--message", "badly formatted, both")
    git(config, "switch", "--quiet", "--create", "second", "main")
    edit(config / "environments" / "prod" / "models" / "summarizer.yaml", "max_tokens: 4096", "max_tokens:    4096")  # uncommitted

    done = llmplan(config, "fmt", "--check", "--changed-from", "main")

    assert (done.returncode, done.stdout) == (2, "environments/prod/models/summarizer.yaml\n"), done.stderr
    assert llmplan(config, "fmt", "--check", "--env", "dev").returncode == 0  # dev is formatted on this branch
    assert llmplan(config, "fmt", "--check", "--changed-from", "main", "--env", "dev").stdout == "environments/prod/models/summarizer.yaml\n"
    assert llmplan(config, "fmt", "--check", "--all").returncode == 2

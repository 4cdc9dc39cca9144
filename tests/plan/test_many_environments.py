"""Many environments in one command (issue 26): `plan` with --env repeated, --all and --changed-from.

Each environment on a real sandbox of its own over HTTP on 127.0.0.1, the
real CLI, real files, and for --changed-from a real Git repository made in
the test's folder. One report with a section per environment, one JSON
document, one saved plan per environment that apply takes one at a time,
and an exit code that adds them up: 1 if any failed (after every other one
was planned and shown), else 2 with --detailed-exitcode if any has changes.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pytest

import tests.stalling_peers as peers
from tests.apply.project import ApplyProject
from tests.plan.e2e_project import RATE_LIMIT, SUPPORT
from tests.plan.fleet import REFUSED_URL, Fleet, git, git_repository

if TYPE_CHECKING:
    from planner.sandbox import RunningSandbox


@pytest.fixture
def fleet(tmp_path: Path, make_sandbox: Callable[..., "RunningSandbox"]) -> Fleet:
    """dev, prod and staging, each on its own sandbox, each applied once (no changes left)."""
    fleet = Fleet(tmp_path / "config", {env: make_sandbox(rate_limit=RATE_LIMIT).url for env in ("dev", "prod", "staging")})
    fleet.apply_all()
    return fleet


def sections(stdout: str) -> list[str]:
    """The environments a text report has sections for, in order."""
    return [line.split()[1] for line in stdout.splitlines() if line.startswith("── ")]


def test_env_repeated_plans_each_environment_into_one_report(fleet: Fleet) -> None:
    fleet["prod"].edit_model("support-bot", "max_tokens: 2048", "max_tokens: 1024")

    done = fleet.run("plan", "--env", "prod", "--env", "dev", "--detailed-exitcode")

    assert done.code == 2, done  # prod has changes
    assert done.stdout.startswith(
        "Plans of 2 environments: 1 with changes, 1 without.\n\n"
        "  environment  create  update  move  forget  status\n"
        "  prod              0       1     0       0  changes\n"
        "  dev               0       0     0       0  no changes\n\n"
    ), done
    assert sections(done.stdout) == ["prod", "dev"]  # in the order given
    prod = done.stdout[done.stdout.index("── prod") : done.stdout.index("── dev")]
    assert "      ~ max_tokens: 2048 → 1024\n" in prod and "Plan: 0 to create, 1 to update, 0 to forget.\n" in prod
    assert "No changes. The live configuration of environment dev matches the YAML (3 models).\n" in done.stdout
    assert fleet.run("plan", "--env", "prod", "--env", "dev").code == 0  # changes, but no --detailed-exitcode


def test_a_single_env_keeps_the_report_of_one_environment(fleet: Fleet) -> None:
    fleet["prod"].edit_model("support-bot", "max_tokens: 2048", "max_tokens: 1024")

    alone = fleet.run("plan", "--env", "prod")

    assert alone.stdout.startswith("Model actions are indicated with the following symbols:\n"), alone
    assert "Plans of" not in alone.stdout and "── " not in alone.stdout
    document = json.loads(fleet.run("plan", "--env", "prod", "--format", "json").stdout)
    assert document["llmplan"]["environment"] == "prod" and "environments" not in document  # the plan itself, as always


def test_all_plans_every_environment_in_one_markdown_comment(fleet: Fleet) -> None:
    fleet["staging"].edit_model("summarizer", "max_tokens: 4096", "max_tokens: 2000")

    done = fleet.run("plan", "--all", "--format", "markdown", "--detailed-exitcode")

    assert done.code == 2, done
    markdown = done.stdout
    assert markdown.startswith(
        "### llmplan plan · 3 environments · 1 with changes, 2 without\n\n"
        "| environment | create | update | move | forget | status |\n"
        "|---|--:|--:|--:|--:|---|\n"
        "| `dev` | 0 | 0 | 0 | 0 | no changes |\n"
        "| `prod` | 0 | 0 | 0 | 0 | no changes |\n"
        "| `staging` | 0 | 1 | 0 | 0 | changes |\n\n"
    ), markdown
    headings = [line for line in markdown.splitlines() if line.startswith("### llmplan · ")]
    assert headings == [
        "### llmplan · `dev` · No changes.",
        "### llmplan · `prod` · No changes.",
        "### llmplan · `staging` · Plan: 0 to create, 1 to update, 0 to forget.",
    ]
    assert markdown.count("\n---\n") == 2  # one rule between two sections
    assert "| ~ | `summarizer` | update | `max_tokens` |" in markdown


def test_a_broken_environment_leaves_the_others_planned_and_exits_1(fleet: Fleet, tmp_path: Path) -> None:
    fleet["prod"].edit_model("support-bot", "max_tokens: 2048", "max_tokens: 1024")
    fleet["staging"].edit_model("summarizer", "max_tokens:", "max_tokns:")  # a typo: staging cannot be planned
    plans = tmp_path / "plans"

    done = fleet.run("plan", "--all", "--detailed-exitcode", "--out", str(plans))

    assert done.code == 1, done  # an error wins over changes, once every environment was shown
    assert sections(done.stdout) == ["dev", "prod", "staging"]
    assert "  staging           -       -     -       -  failed: environment staging is not valid: 2 problems\n" in done.stdout.replace("—", "-")
    staging = done.stdout[done.stdout.index("── staging") :]
    assert "Error: environment staging is not valid: 2 problems\n" in staging
    assert "environments/staging/models/summarizer.yaml:" in staging and "max_tokns" in staging
    assert "      ~ max_tokens: 2048 → 1024\n" in done.stdout  # prod was planned all the same
    assert "Error: 1 of 3 environments failed: staging; each error is in its section above" in done.stderr
    assert "Traceback" not in done.stderr

    # one saved plan per planned environment, each applied on its own, exactly as planned
    assert sorted(path.name for path in plans.iterdir()) == ["dev.plan.json", "prod.plan.json"]
    assert f"Saved 2 plans in {plans}" in done.stderr
    applied = fleet.run("apply", str(plans / "prod.plan.json"))
    assert applied.code == 0, applied
    assert fleet.admin("prod").configuration(SUPPORT)["max_tokens"] == 1024  # type: ignore[index]
    assert fleet.admin("dev").configuration(SUPPORT)["max_tokens"] == 2048  # type: ignore[index]


def test_an_unreachable_gateway_fails_its_environment_only(fleet: Fleet) -> None:
    fleet["dev"].write_environment(gateway=f"base_url: {REFUSED_URL}")

    done = fleet.run("plan", "--env", "dev", "--env", "prod", "--format", "markdown")

    assert done.code == 1, done
    assert "| `dev` | — | — | — | — | ❌ failed: " in done.stdout
    assert "### llmplan plan · `dev` · failed\n" in done.stdout  # the error block, in dev's section
    assert "### llmplan · `prod` · No changes." in done.stdout
    assert "Error: dev: " in done.stderr and "127.0.0.1:1" in done.stderr


def test_json_is_one_document_with_a_member_per_environment(fleet: Fleet) -> None:
    fleet["prod"].edit_model("support-bot", "max_tokens: 2048", "max_tokens: 1024")
    fleet["dev"].edit_model("intent-router", "max_tokens: 512", "max_tokens: lots")

    done = fleet.run("plan", "--all", "--format", "json")

    assert done.code == 1, done
    document = json.loads(done.stdout)  # one document, whatever failed
    assert (document["command"], document["errored"]) == ("plan", True)
    assert list(document["environments"]) == ["dev", "prod", "staging"]
    assert document["summary"] == {"environments": 3, "with_changes": ["prod"], "without_changes": ["staging"], "failed": ["dev"]}
    dev, prod = document["environments"]["dev"], document["environments"]["prod"]
    assert dev["errored"] is True and dev["environment"] == "dev"
    assert [(d["file"], d["path"]) for d in dev["diagnostics"]] == [("environments/dev/models/intent-router.yaml", "max_tokens")]
    assert prod["llmplan"]["environment"] == "prod" and prod["llmplan"]["summary"]["update"] == 1  # the plan as `plan --env prod` prints it
    assert "Error: dev: environment dev is not valid" in done.stderr


def test_target_needs_a_single_environment(fleet: Fleet) -> None:
    done = fleet.run("plan", "--env", "dev", "--env", "prod", "--target", "support-bot")
    assert done.code == 1 and "--target names addresses of one environment: give a single --env" in done.stderr


def test_changed_from_plans_what_a_pull_request_touches(fleet: Fleet) -> None:
    root = fleet.root
    git_repository(root)
    git(root, "switch", "--quiet", "--create", "change")
    fleet["prod"].edit_model("support-bot", "max_tokens: 2048", "max_tokens: 1024")
    git(root, "commit", "--quiet", "--all", "--message", "prod: fewer tokens")  # committed on the branch
    (root / "environments" / "staging" / "models" / "notes.txt").write_text("untracked\n", encoding="utf-8")  # untracked
    git(root, "switch", "--quiet", "main")
    fleet["dev"].edit_model("intent-router", "max_tokens: 512", "max_tokens: 256")
    git(root, "commit", "--quiet", "--all", "--message", "dev, on main after the branch was made")  # not the pull request's
    git(root, "switch", "--quiet", "change")

    done = fleet.run("plan", "--changed-from", "main", "--detailed-exitcode")

    assert done.code == 2, done
    assert sections(done.stdout) == ["prod", "staging"]  # dev changed only on main: not what the branch touches
    assert done.stdout.startswith("Plans of 2 environments: 1 with changes, 1 without.\n")

    fleet["dev"].edit_model("summarizer", "max_tokens: 4096", "max_tokens: 4000")  # uncommitted
    assert sections(fleet.run("plan", "--changed-from", "main").stdout) == ["dev", "prod", "staging"]
    both = fleet.run("plan", "--changed-from", "main", "--env", "dev")
    assert sections(both.stdout) == ["dev", "prod", "staging"]  # each environment once


def test_changed_from_with_nothing_changed_plans_nothing(fleet: Fleet) -> None:
    git_repository(fleet.root)
    for output_format, expected in (("text", "No environment has a file that differs from HEAD: nothing to plan.\n"), ("json", None)):
        done = fleet.run("plan", "--changed-from", "HEAD", "--format", output_format, "--detailed-exitcode")
        assert done.code == 0, done
        if expected is not None:
            assert done.stdout == expected
        else:
            assert json.loads(done.stdout)["environments"] == {}
    markdown = fleet.run("plan", "--changed-from", "HEAD", "--format", "markdown").stdout
    assert markdown == "### llmplan plan · no environment to plan\n\nNo environment has a file that differs from HEAD: nothing to plan.\n"


def test_changed_from_says_what_git_cannot_answer(fleet: Fleet) -> None:
    outside = fleet.run("plan", "--changed-from", "main")
    assert outside.code == 1, outside
    assert f"--changed-from needs a Git repository, and {fleet.root.resolve()} is not in one" in outside.stderr
    assert "Traceback" not in outside.stderr

    git_repository(fleet.root)
    unknown = fleet.run("plan", "--changed-from", "origin/nope", "--format", "json")
    assert unknown.code == 1, unknown
    assert "--changed-from origin/nope: no such commit, branch or tag" in unknown.stderr
    assert "fetch-depth: 0" in unknown.stderr  # the hint for CI
    assert json.loads(unknown.stdout)["errored"] is True
    assert "is not a Git ref" in fleet.run("plan", "--changed-from", "--all").stderr


def test_all_refuses_env_beside_it_and_a_command_without_environments_says_what_to_give(fleet: Fleet) -> None:
    both = fleet.run("plan", "--all", "--env", "dev")
    assert both.code == 1 and "--all covers every environment: give it without --env or --changed-from" in both.stderr
    none = fleet.run("plan")
    assert none.code == 1 and "Missing option '--env' (or --all, or --changed-from GIT_REF)." in none.stderr and "Usage: llmplan plan" in none.stderr


def test_show_renders_the_saved_plans_of_a_folder_as_one_report(fleet: Fleet, tmp_path: Path) -> None:
    fleet["prod"].edit_model("support-bot", "max_tokens: 2048", "max_tokens: 1024")
    plans = tmp_path / "plans"
    planned = fleet.run("plan", "--all", "--format", "markdown", "--out", str(plans))
    assert planned.code == 0, planned

    shown = fleet.run("show", str(plans), "--format", "markdown", root=False)
    assert shown.code == 0, shown
    assert shown.stdout == planned.stdout  # the same comment, from the saved plans

    only = fleet.run("show", str(plans), "--env", "prod", root=False)
    assert sections(only.stdout) == ["prod"]
    alone = fleet.run("show", str(plans / "prod.plan.json"), root=False)
    assert alone.stdout.startswith("Model actions are indicated")  # one file: the plan as it always was shown
    missing = fleet.run("show", str(plans), "--env", "qa", root=False)
    assert missing.code == 1 and "no saved plan of environment qa" in missing.stderr


@pytest.mark.parametrize(("sig", "code", "said"), [(signal.SIGTERM, 143, "Terminated."), (signal.SIGINT, 130, "Interrupted.")])
def test_a_signal_ends_plan_all_within_5_s_while_one_gateway_trickles(tmp_path: Path, make_sandbox: Callable[..., "RunningSandbox"], sig: int, code: int, said: str) -> None:
    with peers.trickling() as gateway:
        fleet = Fleet(tmp_path / "config", {"dev": make_sandbox(rate_limit=RATE_LIMIT).url, "prod": gateway.url})
        child = ApplyProject(fleet.root, gateway.url, env="prod").start("plan", "--all")  # a child process, real signals
        assert gateway.reached.wait(60), "plan never reached the trickling gateway"
        done, elapsed = child.signal_and_finish(sig)
    assert done.code == code, str(done)
    assert done.stderr.rstrip().endswith(said) and "Traceback" not in done.stderr, str(done)
    assert elapsed < 5.0, elapsed  # the promise: a signal ends any command within 5 s

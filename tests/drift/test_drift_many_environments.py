"""`llmplan drift --all`: the one cron job of a fleet (issue 26).

Each environment on a real sandbox of its own; the summary names only the
environments that drifted or failed, the others are counted; each named
environment gets its section as `drift --env` alone shows it; one JSON
document holds every environment; exit 2 for drift anywhere, 1 if any
environment could not be checked (after the others were).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pytest

from tests.plan.e2e_project import RATE_LIMIT, ROUTER, SUPPORT
from tests.plan.fleet import REFUSED_URL, Fleet

if TYPE_CHECKING:
    from planner.sandbox import RunningSandbox

REGIONS = ("ap-south", "eu-west", "us-east", "us-west")


@pytest.fixture
def fleet(tmp_path: Path, make_sandbox: Callable[..., "RunningSandbox"]) -> Fleet:
    """Four regions, each on its own gateway, each applied: no drift anywhere."""
    fleet = Fleet(tmp_path / "config", {region: make_sandbox(rate_limit=RATE_LIMIT).url for region in REGIONS})
    fleet.apply_all()
    return fleet


def test_drift_all_names_only_the_drifted_environments(fleet: Fleet) -> None:
    fleet.admin("eu-west").patch(SUPPORT, max_tokens=1024)  # a console edit in one region

    done = fleet.run("drift", "--all")

    assert done.code == 2, done
    assert done.stdout.startswith(
        "Drift check of 4 environments: 1 drifted.\n\n"
        "  environment  drifted  weakened outside  unmanaged  status\n"
        "  eu-west       1 of 3                 0          0  drift\n\n"
        "3 environments without drift.\n\n"
        "── eu-west "
    ), done
    for quiet in ("ap-south", "us-east", "us-west"):
        assert quiet not in done.stdout  # counted, never named
    assert "Drift in environment eu-west: 1 of 3 models differ from the YAML.\n" in done.stdout
    assert "      ~ max_tokens: 1024 → 2048\n" in done.stdout  # live → YAML, as drift --env eu-west shows it

    markdown = fleet.run("drift", "--all", "--format", "markdown").stdout
    assert markdown.startswith(
        "### llmplan drift · 4 environments · 1 drifted\n\n"
        "| environment | drifted | weakened outside | unmanaged | status |\n"
        "|---|--:|--:|--:|---|\n"
        "| `eu-west` | 1 of 3 | 0 | 0 | drift |\n\n"
        "3 environments without drift.\n\n---\n\n"
        "### llmplan drift · `eu-west` · 1 of 3 models drifted\n"
    ), markdown
    assert not any(quiet in markdown for quiet in ("ap-south", "us-east", "us-west"))


def test_drift_all_without_drift_is_one_line_and_exit_0(fleet: Fleet) -> None:
    done = fleet.run("drift", "--all")
    assert (done.code, done.stdout) == (0, "Drift check of 4 environments: no drift.\n\n4 environments without drift.\n"), done


def test_a_region_that_cannot_be_checked_is_named_and_the_others_are_still_checked(fleet: Fleet) -> None:
    fleet.admin("us-west").patch(ROUTER, max_tokens=256)
    fleet["ap-south"].write_environment(gateway=f"base_url: {REFUSED_URL}")  # its gateway is down

    done = fleet.run("drift", "--all", "--format", "markdown")

    assert done.code == 1, done  # an error is never "no drift", and wins over drift
    table = done.stdout.split("\n\n")[1]
    assert [row.split(" | ")[0] for row in table.splitlines()[2:]] == ["| `ap-south`", "| `us-west`"]
    assert "❌ failed: " in table
    assert "### llmplan drift · `ap-south` · failed\n" in done.stdout and "### llmplan drift · `us-west` · 1 of 3 models drifted\n" in done.stdout
    assert "2 environments without drift." in done.stdout
    assert "Error: ap-south: " in done.stderr and "127.0.0.1:1" in done.stderr


def test_json_holds_every_environment_and_lists_the_drifted(fleet: Fleet, tmp_path: Path) -> None:
    fleet.admin("us-east").patch(SUPPORT, compliance_mode="permissive")  # a weakening outside llmplan
    out = tmp_path / "drift.json"

    done = fleet.run("drift", "--all", "--format", "json", "--out", str(out))

    assert done.code == 2, done
    document = json.loads(done.stdout)
    assert json.loads(out.read_text(encoding="utf-8")) == document  # --out: the same report
    assert (document["command"], document["errored"]) == ("drift", False)
    assert document["summary"] == {"environments": 4, "drifted": ["us-east"], "weakened_outside": ["us-east"], "failed": [], "without_drift": 3}
    assert sorted(document["environments"]) == list(REGIONS)
    us_east = document["environments"]["us-east"]
    assert (us_east["llmplan"]["environment"], us_east["summary"]["drifted"], us_east["llmplan"]["weakened_outside"]) == ("us-east", 1, 1)
    assert document["environments"]["eu-west"]["summary"]["drifted"] == 0


def test_fail_on_weakening_adds_up_over_the_environments(fleet: Fleet) -> None:
    fleet.admin("eu-west").patch(ROUTER, max_tokens=256)  # drift, not a weakening
    calm = fleet.run("drift", "--all", "--fail-on-weakening")
    assert calm.code == 0 and calm.stdout.startswith("Drift check of 4 environments: no safety weakened outside llmplan.\n"), calm
    fleet.admin("us-west").patch(SUPPORT, compliance_mode="permissive")
    paged = fleet.run("drift", "--all", "--fail-on-weakening")
    assert paged.code == 2, paged
    # the summary names what pages: the weakening, not eu-west's other drift
    assert paged.stdout.startswith(
        "Drift check of 4 environments: 1 with safety weakened outside llmplan.\n\n"
        "  environment  drifted  weakened outside  unmanaged  status\n"
        "  us-west       1 of 3                 1          0  drift, safety weakened outside llmplan\n\n"
        "3 environments without safety weakened outside llmplan.\n"
    ), paged


def test_drift_env_repeated_checks_those_only(fleet: Fleet) -> None:
    fleet.admin("us-west").patch(ROUTER, max_tokens=256)
    done = fleet.run("drift", "--env", "us-east", "--env", "us-west")
    assert done.code == 2, done
    assert done.stdout.startswith("Drift check of 2 environments: 1 drifted.\n") and "1 environment without drift." in done.stdout

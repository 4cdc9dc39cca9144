"""`llmplan report` on real records: a fleet applied, refused, weakened (allowed, and outside
llmplan) and checked for drift through the real CLI against real sandboxes (fleet.py); the
site's pages read as a person reads them (their text)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from planner.adapters.outputs import write_site
from planner.adapters.records import open_records
from planner.model.catalog import generated_model_id
from planner.model.report import DEFAULT_DAYS
from planner.model.settings import StateSettings
from tests.plan.fleet import git_repository
from tests.records.records_helpers import append, holding
from tests.report.fleet import MODELS, Fleet, text_of


def page(site: Path, name: str) -> str:
    return text_of((site / name).read_text(encoding="utf-8"))


def test_the_first_page_puts_problems_first_and_names_the_weakening_outside_llmplan(fleet: Fleet, tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = fleet.report(site, "--all")
    assert done.code == 0, str(done)
    assert done.stdout == f"Report of 2 environments written to {site / 'index.html'} (6 files).\n"
    assert sorted(path.relative_to(site).as_posix() for path in site.rglob("*") if path.is_file()) == [
        "history.html",
        "index.html",
        "llmplan-report.json",
        "models/bench-00001.html",
        "models/bench-00002.html",
        "models/bench-00003.html",
        "posture.html",
    ]

    index = page(site, "index.html")
    assert "2 environments, 1 with problems, 1 model with safety weakened outside llmplan" in index
    assert index.index("Safety weakened outside llmplan") < index.index("prod ✖ 3 problems") < index.index("staging ✓ no problems")
    assert "prod · bench-00002 (found live" in index
    assert "safety_filters[pii].action : flag is a weaker action for the pii filter than redact" in index
    assert "safety_filters[pii].threshold : with a higher threshold the pii filter acts on less content" in index
    assert "error: safety weakened outside llmplan: 1 model" in index
    assert "warning: drift: 2 of 3 models differ from the YAML" in index  # the console edit, and the refused change
    assert "warning: last apply: 1 change failed" in index
    assert "models managed 3" in index
    assert "0 applied, 1 failed · by: not recorded" in index  # prod's last apply: the refused change
    assert "1 applied, 0 failed · by: octocat (GITHUB_ACTOR)" in index  # staging's: the weakening it allowed
    assert index.count("✓ verified") == 2 and "not locked" in index
    assert "2 of 3 models differ from the YAML · read live" in index


def test_the_posture_matrix_shows_where_environments_differ(fleet: Fleet, tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert fleet.report(site, "--env", "staging", "--env", "prod").code == 0
    posture = page(site, "posture.html")
    differences = posture[posture.index("Differences between environments") : posture.index("All models")]
    # bench-00001: prod blocks pii from 50, staging redacts from 80; bench-00002: weakened differently in each
    assert "bench-00001 pii ▮▮▮ block 50 ≠ ▮▮▯ redact 80 ≠" in differences or "bench-00001 pii ▮▮▯ redact 80 ≠ ▮▮▮ block 50 ≠" in differences
    assert "bench-00003" not in differences
    html = (site / "posture.html").read_text(encoding="utf-8")
    assert 'class="lvl-strong differs" title="prod · pii: block 50 (strong), differs between environments"' in html
    for model in MODELS:
        assert f'<tr data-model="{model}"' in html
    assert "drifted in prod" in posture
    assert "prod : live, read at report time" in posture


def test_each_model_page_shows_its_changes_as_field_level_diffs(fleet: Fleet, tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert fleet.report(site, "--all").code == 0

    allowed = next(e for e in fleet.audit("staging") if e.get("address") == "bench-00002" and e["status"] == "success" and e.get("safety", {}).get("classification") == "weakens")
    weakened = page(site, "models/bench-00002.html")
    assert "weakening allowed : update applied" in weakened
    assert f"safety weakens · allowed by octocat (GITHUB_ACTOR) (--allow-weakening) version 2 audit id {allowed['audit_id']}" in weakened
    assert 'Fields changed by this update field before after safety_filters[pii].action "redact" "flag"' in weakened
    assert "drift found : live changed outside llmplan" in weakened  # prod's console edit
    assert 'safety_filters[pii].threshold 95 80' in weakened  # live → YAML

    refused = next(e for e in fleet.audit("prod") if e.get("address") == "bench-00003" and e["status"] == "failure")
    failed = page(site, "models/bench-00003.html")
    assert f"failed : update refused by the gateway when {refused['timestamp'][:10]}" in failed
    assert f"audit id {refused['audit_id']}" in failed and "error bad.request: PUT /api/v2/ai/models/" in failed
    assert "Fields this refused update would have changed field before after max_tokens 1024 2000" in failed


def test_an_entry_written_before_changes_were_recorded_says_so(fleet: Fleet, tmp_path: Path) -> None:
    records = open_records("staging", fleet.root, StateSettings())
    append(
        records,
        {
            "action": "configuration_update", "status": "success", "environment": "staging", "address": "bench-00001",
            "model_id": generated_model_id(1), "latency_ms": 3.0, "payload_hash": "ab" * 32, "compliance_mode": "standard", "version": 1,
        }
    )  # as llmplan wrote it before update outcomes carried their field changes
    site = tmp_path / "site"
    assert fleet.report(site, "--env", "staging").code == 0
    assert "Field-level details not recorded (this entry was written before llmplan recorded them)." in page(site, "models/bench-00001.html")


def test_a_broken_yaml_and_a_held_lock_are_named_and_the_others_still_reported(fleet: Fleet, tmp_path: Path) -> None:
    (fleet.root / "environments" / "staging" / "models" / "bench-00001.yaml").write_text("model_id: [\n", encoding="utf-8")
    records = open_records("prod", fleet.root, StateSettings())
    with holding(records, "apply"):  # an apply running elsewhere
        site = tmp_path / "site"
        done = fleet.report(site, "--all")
    assert done.code == 1, str(done)
    assert "Error: staging: the YAML is not valid (environments/staging/models/bench-00001.yaml:" in done.stderr
    index = page(site, "index.html")
    assert index.index("prod ✖") < index.index("staging ✖")  # both have errors: by name
    assert "error: the YAML is not valid (environments/staging/models/bench-00001.yaml:" in index
    assert "models managed unknown (the YAML could not be read)" in index
    assert "notice: locked by apply (" in index and "held by apply (" in index
    assert "staging : as last applied by llmplan (the state); the live gateway was not read" in page(site, "posture.html")


def test_offline_shows_the_last_drift_result_and_reads_no_gateway(fleet: Fleet, tmp_path: Path) -> None:
    fleet.stop_gateways()
    site = tmp_path / "site"
    done = fleet.report(site, "--all", "--offline")
    assert done.code == 0, str(done)
    index = page(site, "index.html")
    assert "drift as last checked by llmplan drift (--offline)" in index
    assert "2 of 3 models differ from the YAML · last drift check" in index  # prod: what `llmplan drift` remembered
    assert "prod · bench-00002 (last drift check" in index
    assert "Note: no drift check remembered yet: run `llmplan drift --env staging`" in index
    assert "prod : as last applied by llmplan (the state); the live gateway was not read" in page(site, "posture.html")


def test_a_gateway_that_cannot_be_read_is_named_and_the_site_still_written(fleet: Fleet, tmp_path: Path) -> None:
    fleet.stop_gateways()
    site = tmp_path / "site"
    done = fleet.report(site, "--env", "prod", "--gateway-timeout", "5")
    assert done.code == 1, str(done)
    assert "Error: prod: the gateway could not be read (" in done.stderr  # after the waiting lines of its retries, if any
    assert "Error: some environments could not be read in full; the report names what is missing" in done.stderr
    index = page(site, "index.html")
    assert "error: the gateway could not be read (" in index and "the last drift result is shown instead" in index
    assert "2 of 3 models differ from the YAML · last drift check" in index


def test_a_page_an_earlier_report_wrote_and_this_one_does_not_is_removed_and_nothing_else(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "notes.txt").write_text("kept", encoding="utf-8")
    assert write_site(site, [("index.html", "one"), ("models/old-bot.html", "old")]) == 2
    assert write_site(site, [("index.html", "two"), ("models/new-bot.html", "new")]) == 2
    assert sorted(path.relative_to(site).as_posix() for path in site.rglob("*") if path.is_file()) == ["index.html", "llmplan-report.json", "models/new-bot.html", "notes.txt"]
    assert json.loads((site / "llmplan-report.json").read_text(encoding="utf-8"))["files"] == ["index.html", "models/new-bot.html"]


def test_the_help_says_what_the_report_holds_and_its_default_window(fleet: Fleet) -> None:
    done = fleet.prod.run("report", "--help", root=False)
    assert done.code == 0
    assert "Write a static HTML report: fleet status, safety posture, history." in done.stdout
    assert f"(default: {DEFAULT_DAYS})" in " ".join(done.stdout.split())
    assert "llmplan report --out report --all --offline" in done.stdout


def test_wrong_requests_are_refused_with_a_clear_error(fleet: Fleet, tmp_path: Path) -> None:
    unknown = fleet.report(tmp_path / "site", "--env", "qa")
    assert unknown.code == 1
    assert unknown.stderr.startswith(f"Error: environment 'qa' not found in {fleet.root.resolve()}/environments/ (available: prod, staging)")

    a_file = tmp_path / "taken"
    a_file.write_text("", encoding="utf-8")
    refused = fleet.report(a_file, "--all")
    assert refused.code == 1
    assert f"Error: Invalid value for '--out': Directory '{a_file}' is a file." in refused.stderr and "Traceback" not in refused.stderr
    inside = fleet.report(a_file / "site", "--all")
    assert inside.code == 1 and f"Error: cannot write the report to {a_file / 'site'}: Not a directory" in inside.stderr

    both = fleet.report(tmp_path / "site", "--all", "--env", "prod")
    assert both.code == 1 and "pass --env or --all, not both" in both.stderr
    neither = fleet.report(tmp_path / "site")
    assert neither.code == 1 and "name the environments with --env (repeatable), or pass --all" in neither.stderr
    assert not (tmp_path / "site").exists()


def test_no_secret_reaches_the_site(fleet: Fleet, tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert fleet.report(site, "--all").code == 0
    everything = "".join(path.read_text(encoding="utf-8") for path in site.rglob("*") if path.is_file())
    assert "sandbox-secret" not in everything  # the client secret the CLI ran with
    assert "Authorization" not in everything and "Bearer" not in everything
    assert re.search(r"(src|href)=\"(https?:)?//", everything) is None  # nothing to load from anywhere


def test_the_last_apply_names_the_commit_its_plan_came_from(fleet: Fleet, tmp_path: Path) -> None:
    fleet.staging.edit_model("bench-00003", "max_tokens: 1024", "max_tokens: 1500")
    commit = git_repository(fleet.root)
    done = fleet.staging.run("apply", "--env", "staging", "--auto-approve")
    assert done.code == 0, str(done)
    site = tmp_path / "site"
    assert fleet.report(site, "--env", "staging").code == 0
    assert f"commit {commit}" in page(site, "index.html")

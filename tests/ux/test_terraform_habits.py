"""The habits Terraform users bring: state list/rm/mv, fmt, version, a
warning for --target, a legend and the count of unchanged fields in a plan,
ASCII arrows when the output is not UTF-8.

The real CLI against the real sandbox over HTTP; fmt and version offline;
the encodings through a child process, as a terminal would run it.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from planner import __version__
from planner.adapters.records.local_lock import LocalLocker
from planner.core.validation import schema_violations
from planner.model import schemas
from tests.plan.e2e_project import SUMMARIZER, SUPPORT, THREE_MODELS, Admin, Project

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def applied(project: Project) -> Project:
    project.write_models(THREE_MODELS)
    project.apply()
    return project


# --- state list / rm / mv --------------------------------------------------------


def test_state_list_prints_one_address_per_line(applied: Project) -> None:
    done = applied.run("state", "list", "--env", "dev")
    assert (done.code, done.stdout) == (0, "intent-router\nsummarizer\nsupport-bot\n")


def test_state_rm_stops_managing_leaves_live_alone_and_is_audited(applied: Project, admin: Admin) -> None:
    live = admin.configuration(SUMMARIZER)
    (applied.models_dir / "summarizer.yaml").unlink()
    admin.clear_requests()
    done = applied.run("state", "rm", "--env", "dev", "summarizer")
    assert done.code == 0, done
    assert done.stdout == f"Removed summarizer ({SUMMARIZER}) from the state of dev; its live configuration is left alone.\n"
    assert done.stderr == ""
    assert admin.requests() == []  # nothing sent: not even a read
    assert admin.configuration(SUMMARIZER) == live
    assert applied.run("state", "list", "--env", "dev").stdout == "intent-router\nsupport-bot\n"
    entry = applied.audit()[-1]
    assert (entry["action"], entry["status"], entry["address"], entry["model_id"]) == ("state_rm", "success", "summarizer", SUMMARIZER)
    assert schema_violations(schemas.validator(schemas.AUDIT_ENTRY), entry) == []
    assert applied.run("audit", "verify", "--env", "dev").code == 0
    # state and YAML agree again: nothing to forget, nothing to do
    plan = applied.run("plan", "--env", "dev", "--detailed-exitcode")
    assert plan.code == 0 and plan.stdout.startswith("No changes."), plan


def test_state_rm_says_when_the_file_would_bring_the_model_back(applied: Project) -> None:
    done = applied.run("state", "rm", "--env", "dev", "summarizer")
    assert done.code == 0, done
    assert done.stderr == "Note: environments/dev/models/summarizer.yaml still exists, so the next apply manages summarizer again; delete the file to stop managing it.\n"


def test_state_rm_and_mv_refuse_what_state_does_not_hold_and_change_nothing(applied: Project) -> None:
    before = (applied.state_dir / "state.json").read_bytes()
    audit_before = len(applied.audit())
    unknown = applied.run("state", "rm", "--env", "dev", "summarizer", "nope")  # all or none
    assert unknown.code == 1, unknown
    assert unknown.stderr.startswith("Error: nope is not in the state of environment dev (addresses in state: intent-router, summarizer, support-bot)")
    taken = applied.run("state", "mv", "--env", "dev", "summarizer", "support-bot")
    assert taken.code == 1 and "support-bot is already in the state of environment dev" in taken.stderr, taken
    bad = applied.run("state", "mv", "--env", "dev", "summarizer", "Not An Address")
    assert bad.code == 1 and "is not a valid address" in bad.stderr, bad
    assert (applied.state_dir / "state.json").read_bytes() == before
    assert len(applied.audit()) == audit_before


def test_state_rm_and_mv_wait_for_nobody_and_name_the_lock_holder(applied: Project) -> None:
    holder = LocalLocker(applied.state_dir)
    lock = holder.lock("apply")
    try:
        for args in (("state", "rm", "--env", "dev", "summarizer"), ("state", "mv", "--env", "dev", "summarizer", "summ")):
            refused = applied.run(*args)
            assert refused.code == 1, refused
            assert lock.info.id in refused.stderr and "apply" in refused.stderr
    finally:
        holder.unlock(lock)
    assert applied.run("state", "list", "--env", "dev").stdout == "intent-router\nsummarizer\nsupport-bot\n"


def test_state_mv_without_the_renamed_file_warns_that_plan_moves_it_back(applied: Project) -> None:
    done = applied.run("state", "mv", "--env", "dev", "summarizer", "summ")
    assert done.code == 0, done
    assert "Note: there is no model file for summ yet; rename the file of summarizer to summ.yaml, or the next plan moves the model back." in done.stderr
    plan = applied.run("plan", "--env", "dev")
    assert "  # summ has moved to summarizer\n" in plan.stdout


# --- fmt ---------------------------------------------------------------------------

MESSY = f"""# the summarizer: keep this comment
max_tokens: 4096   # tokens, not words
model_id: {SUMMARIZER}
temperature_matrix:
    precise: 0.1
    default: 0.4
    creative: 0.9
safety_filters:
- threshold: 80
  filter_type: pii
  action: redact
compliance_mode: yes{"   "}
"""

CANONICAL = f"""# the summarizer: keep this comment
model_id: {SUMMARIZER}
temperature_matrix: {{default: 0.4, creative: 0.9, precise: 0.1}}
safety_filters:
  - {{filter_type: pii, action: redact, threshold: 80}}
max_tokens: 4096   # tokens, not words
compliance_mode: true
"""


def test_fmt_rewrites_in_the_canonical_layout_keeping_comments_and_meaning(project: Project) -> None:
    path = project.write_model("summarizer", MESSY)
    check = project.run("fmt", "--check", "--diff")
    assert check.code == 2, check  # CI: something would change
    assert check.stdout.startswith("environments/dev/models/summarizer.yaml\n--- a/environments/dev/models/summarizer.yaml\n+++ b/environments/dev/models/summarizer.yaml\n")
    assert path.read_text(encoding="utf-8") == MESSY  # --check changes nothing
    before = project.run("validate", "--env", "dev", "--format", "json")

    done = project.run("fmt")
    assert (done.code, done.stdout) == (0, "environments/dev/models/summarizer.yaml\n")
    assert path.read_text(encoding="utf-8") == CANONICAL
    assert project.run("fmt", "--check").code == 0  # formatted: CI passes
    assert project.run("fmt").stdout == ""  # nothing left to do
    # the same configuration: validate finds the same problem (yes was already the boolean true)
    after = project.run("validate", "--env", "dev", "--format", "json")
    assert [p["message"].split(";")[0] for p in json.loads(after.stdout)["problems"]] == [p["message"].split(";")[0] for p in json.loads(before.stdout)["problems"]]


def test_fmt_leaves_every_file_alone_when_one_cannot_be_read(project: Project) -> None:
    messy = project.write_model("summarizer", MESSY)
    project.write_model("broken", f"model_id: {SUPPORT}\ntemperature_matrix:\n\tdefault: 0.7\n")
    done = project.run("fmt")
    assert done.code == 1, done
    assert "environments/dev/models/broken.yaml:3:1: a tab is used for indentation here" in done.stderr
    assert "nothing was changed" in done.stderr
    assert messy.read_text(encoding="utf-8") == MESSY


def test_the_shipped_example_environments_are_formatted() -> None:
    done = subprocess.run([sys.executable, "-m", "planner", "fmt", "--check", "--root", str(REPO)], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, ""), done.stdout + done.stderr


def test_fmt_of_an_unknown_environment_names_the_folder_searched(project: Project, tmp_path: Path) -> None:
    done = project.run("fmt", "--env", "nope")
    assert done.code == 1 and f"not found in {project.root.resolve()}/environments/" in done.stderr, done
    outside = subprocess.run([sys.executable, "-m", "planner", "fmt", "--check", "--root", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert outside.returncode == 1 and f"Error: there is no {tmp_path.resolve()}/environments/ folder to format" in outside.stderr, outside.stderr


# --- version -------------------------------------------------------------------------


def test_version_says_what_is_installed(project: Project) -> None:
    text = project.run("version", root=False)
    assert text.code == 0, text
    assert text.stdout.splitlines()[0] == f"llmplan {__version__}"  # as --version says it
    assert f"Python {platform.python_version()}" in text.stdout
    document = json.loads(project.run("version", "--format", "json", root=False).stdout)
    assert (document["llmplan_version"], document["python_version"]) == (__version__, platform.python_version())
    assert project.run("--version", root=False).stdout == f"llmplan {__version__}\n"


# --- --target, the legend, unchanged fields -------------------------------------------


def test_target_always_comes_with_a_warning(applied: Project) -> None:
    applied.edit_model("summarizer", "max_tokens: 4096", "max_tokens: 3000")
    warning = "Warning: resource targeting is in effect: this plan covers only summarizer; other changes may be missing."
    text = applied.run("plan", "--env", "dev", "--target", "summarizer")
    assert text.stdout.startswith(warning), text
    as_json = applied.run("plan", "--env", "dev", "--target", "summarizer", "--format", "json")
    assert as_json.stderr.startswith(warning) and json.loads(as_json.stdout)["llmplan"]["targets"] == ["summarizer"]
    markdown = applied.run("plan", "--env", "dev", "--target", "summarizer", "--format", "markdown")
    assert f"> [!WARNING]\n> {warning.removeprefix('Warning: ')}" in markdown.stdout
    untargeted = applied.run("plan", "--env", "dev")
    assert "targeting" not in untargeted.stdout + untargeted.stderr


def test_the_text_plan_has_a_legend_of_the_symbols_it_uses_and_counts_unchanged_fields(applied: Project) -> None:
    (applied.models_dir / "intent-router.yaml").unlink()
    applied.edit_model("summarizer", "max_tokens: 4096", "max_tokens: 3000")
    done = applied.run("plan", "--env", "dev")
    assert done.stdout.startswith(
        "Model actions are indicated with the following symbols:\n"
        "  ~ update in place\n"
        "  - forget (dropped from state; the live configuration is left alone)\n"
        "Field lines read live → YAML.\n\n"
    ), done
    assert "  ~ update summarizer\n      ~ max_tokens: 4096 → 3000\n      # (6 unchanged fields hidden)\n" in done.stdout


# --- ASCII arrows ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({"LC_ALL": "C"}, id="LC_ALL=C"),
        pytest.param({"LC_ALL": None, "LC_CTYPE": None, "LANG": "POSIX"}, id="LANG=POSIX"),
        pytest.param({"PYTHONIOENCODING": "latin-1"}, id="a latin-1 stream"),
        pytest.param({"PYTHONIOENCODING": "ascii"}, id="an ascii stream"),
    ],
)
def test_arrows_are_ascii_when_the_output_is_not_utf8(applied: Project, admin: Admin, environ: dict[str, str | None]) -> None:
    admin.patch(SUPPORT, max_tokens=1024)
    plan = applied.subprocess("plan", "--env", "dev", env=environ)
    drift = applied.subprocess("drift", "--env", "dev", env=environ)
    for done in (plan, drift):
        assert done.code in (0, 2), done
        assert "→" not in done.stdout and "->" in done.stdout, done
    assert "      ~ max_tokens: 1024 -> 2048\n" in plan.stdout
    assert "Field lines read live -> YAML." in plan.stdout
    assert "(each line reads live -> YAML: what apply would change back)" in drift.stdout


def test_arrows_stay_unicode_on_a_utf8_output(applied: Project, admin: Admin) -> None:
    admin.patch(SUPPORT, max_tokens=1024)
    done = applied.subprocess("plan", "--env", "dev", env={"LC_ALL": "C.UTF-8"})
    assert "      ~ max_tokens: 1024 → 2048\n" in done.stdout, done

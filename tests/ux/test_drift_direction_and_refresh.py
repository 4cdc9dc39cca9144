"""drift reads like plan: one direction (live → YAML) with a legend, the
summary counts unmanaged configurations, --fail-on-unmanaged pages on them;
refresh warns when the live value it accepts is not the YAML's.

Real CLI, real sandbox over HTTP.
"""

from __future__ import annotations

import re

import pytest

from tests.plan.e2e_project import SUPPORT, THREE_MODELS, TRANSLATOR, Admin, Project, model_config


@pytest.fixture
def applied(project: Project) -> Project:
    project.write_models(THREE_MODELS)
    project.apply()
    return project


def field_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if re.match(r"^\s+[~+-] [a-z_\[\].]+: ", line)]


def test_plan_and_drift_print_the_same_difference_the_same_way(applied: Project, admin: Admin) -> None:
    admin.patch(SUPPORT, max_tokens=1024, compliance_mode="standard")
    plan = applied.run("plan", "--env", "dev")
    drift = applied.run("drift", "--env", "dev")
    planned = plan.stdout.partition("llmplan will perform the following actions")[2]
    assert field_lines(planned) == field_lines(drift.stdout) == ['~ compliance_mode: "standard" → "strict"', "~ max_tokens: 1024 → 2048"]
    assert "Field lines read live → YAML." in plan.stdout
    assert "  (each line reads live → YAML: what apply would change back)\n" in drift.stdout
    markdown = applied.run("drift", "--env", "dev", "--format", "markdown").stdout
    assert "<details><summary>Field-level differences (each line reads live → YAML: what apply would change back)</summary>" in markdown
    assert "-   max_tokens: 1024\n+   max_tokens: 2048\n" in markdown
    code, document = applied.json("drift", "--env", "dev")
    (entry,) = document["resource_drift"]
    assert (entry["change"]["before"]["max_tokens"], entry["change"]["after"]["max_tokens"]) == (1024, 2048)  # live, YAML


def test_unmanaged_configurations_are_counted_and_page_only_when_asked(applied: Project, admin: Admin) -> None:
    admin.add_models({"id": TRANSLATOR, "name": "gemini-translate", "capabilities": {"max_context_window": 6144, "restricted_safety_filters": []}, "configuration": model_config(TRANSLATOR)})
    plain = applied.run("drift", "--env", "dev")
    assert plain.code == 0, plain  # reported, not drift: a cron job that did not ask is not paged
    assert plain.stdout.splitlines()[0] == "No drift: the live configuration of environment dev matches the YAML (3 models); 1 configuration on the gateway is unmanaged (in no YAML file)."
    strict = applied.run("drift", "--env", "dev", "--fail-on-unmanaged")
    assert strict.code == 2, strict
    code, document = applied.json("drift", "--env", "dev", "--fail-on-unmanaged")
    assert code == 2 and document["summary"] == {"total": 3, "drifted": 0, "unmanaged": 1}
    markdown = applied.run("drift", "--env", "dev", "--format", "markdown", "--fail-on-unmanaged")
    assert markdown.code == 2 and markdown.stdout.startswith("### llmplan drift · `dev` · 0 of 3 models drifted, 1 unmanaged\n")
    # adopted: nothing unmanaged, exit 0 again
    assert applied.run("import", "--env", "dev", "--all").code == 0
    assert applied.run("drift", "--env", "dev", "--fail-on-unmanaged").code == 0


def test_fail_on_unmanaged_and_fail_on_weakening_combine(applied: Project, admin: Admin) -> None:
    admin.add_models({"id": TRANSLATOR, "name": "gemini-translate", "capabilities": {"max_context_window": 6144, "restricted_safety_filters": []}, "configuration": model_config(TRANSLATOR)})
    admin.patch(SUPPORT, max_tokens=1024)  # drift, but no weakening
    assert applied.run("drift", "--env", "dev", "--fail-on-weakening").code == 0
    assert applied.run("drift", "--env", "dev", "--fail-on-weakening", "--fail-on-unmanaged").code == 2


def test_refresh_warns_when_the_value_it_accepts_differs_from_the_yaml(applied: Project, admin: Admin) -> None:
    admin.patch(SUPPORT, max_tokens=1024)
    done = applied.run("refresh", "--env", "dev")
    assert done.code == 0, done
    assert done.stdout == "  recorded support-bot (version 2)\nRefresh complete: 1 model(s) recorded in state.\n"
    assert done.stderr == (
        "Warning: support-bot: the live configuration recorded in state differs from the YAML (live → YAML: max_tokens: 1024 → 2048); "
        "the next `llmplan plan --env dev` changes it back unless you edit the YAML to match.\n"
    )
    # the reviewed way: edit the YAML to match, then refresh; no warning
    admin.patch(SUPPORT, max_tokens=1000)
    applied.edit_model("support-bot", "max_tokens: 2048", "max_tokens: 1000")
    quiet = applied.run("refresh", "--env", "dev")
    assert quiet.code == 0 and quiet.stderr == "", quiet

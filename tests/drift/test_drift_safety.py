"""Safety weakened outside llmplan: `llmplan drift` against the real sandbox
reports it first, in every format, and `--fail-on-weakening` exits 2 for it
alone, so that alert can page while other drift goes to a quieter issue."""

from __future__ import annotations

import json

import pytest

from tests.plan.e2e_project import HEADER, ROUTER, SUMMARIZER, SUPPORT, THREE_MODELS, Admin, Project, model_config

PII_FLAG = [{"filter_type": "pii", "action": "flag", "threshold": 85}, {"filter_type": "self_harm", "action": "block", "threshold": 10}]


@pytest.fixture
def applied(project: Project) -> Project:
    project.write_models(THREE_MODELS)
    project.apply()
    return project


def test_a_console_weakening_is_reported_first_and_exits_2(applied: Project, admin: Admin) -> None:
    admin.patch(SUPPORT, safety_filters=PII_FLAG)  # pii: redact → flag, in the console
    admin.patch(ROUTER, max_tokens=256)  # other drift

    for args in ((), ("--fail-on-weakening",)):
        done = applied.run("drift", "--env", "dev", *args)
        assert done.code == 2, done
        assert done.stdout.startswith(
            "Safety weakened outside llmplan: 1 model, 1 setting.\n\n"
            "  (each line reads live → last applied)\n\n"
            f'  ! support-bot ({SUPPORT}): safety_filters[pii].action: "flag" → "redact"\n'
            "      flag is a weaker action for the pii filter than redact (strongest first: block > redact > flag)\n\n"
            "Drift in environment dev: 2 of 3 models differ from the YAML.\n"
        ), done

    code, document = applied.json("drift", "--env", "dev")
    assert code == 2
    safety = {entry["address"]: entry["llmplan"]["safety"] for entry in document["resource_drift"]}
    assert safety["support-bot"]["classification"] == "weakens"
    assert safety["support-bot"]["reasons"][0]["path"] == "safety_filters[pii].action"
    assert safety["intent-router"]["classification"] == "behaviour"
    assert document["llmplan"]["weakened_outside"] == 1

    markdown = applied.run("drift", "--env", "dev", "--format", "markdown").stdout.splitlines()
    assert markdown[0] == "### llmplan drift · `dev` · 2 of 3 models drifted"
    assert markdown[2] == "#### ⚠️ Safety weakened outside llmplan: 1 model"
    assert "| model | field | live → last applied | why |" in markdown
    assert '| `support-bot` | `safety_filters[pii].action` | `"flag" → "redact"` | flag is a weaker action for the pii filter than redact (strongest first: block > redact > flag) |' in markdown


def test_fail_on_weakening_lets_other_drift_exit_0_but_still_reports_it(applied: Project, admin: Admin) -> None:
    admin.patch(ROUTER, max_tokens=256, temperature_matrix={"default": 0.3})
    admin.patch(SUMMARIZER, compliance_mode="strict")  # a console edit that strengthens is drift, not a weakening

    paging = applied.run("drift", "--env", "dev", "--fail-on-weakening")
    assert paging.code == 0, paging
    assert paging.stdout.startswith("Drift in environment dev: 2 of 3 models differ from the YAML.\n"), paging
    assert "Safety weakened" not in paging.stdout
    assert applied.run("drift", "--env", "dev").code == 2  # the ordinary drift check still sees it
    code, document = applied.json("drift", "--env", "dev")
    assert document["llmplan"]["weakened_outside"] == 0
    assert {entry["address"]: entry["llmplan"]["safety"]["classification"] for entry in document["resource_drift"]} == {"intent-router": "behaviour", "summarizer": "strengthens"}


def test_a_yaml_change_not_yet_applied_is_not_a_weakening_outside(applied: Project) -> None:
    applied.edit_model("support-bot", "compliance_mode: strict", "compliance_mode: permissive")
    done = applied.run("drift", "--env", "dev", "--fail-on-weakening")
    assert done.code == 0, done
    assert "YAML changed but not applied" in done.stdout and "Safety weakened" not in done.stdout


def test_a_model_llmplan_never_applied_is_compared_with_the_yaml(applied: Project, admin: Admin) -> None:
    model_id = "0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"
    admin.add_models({"id": model_id, "name": "hand-made", "capabilities": {"max_context_window": 8192, "restricted_safety_filters": []},
                      "configuration": model_config(model_id, compliance_mode="permissive")})
    applied.write_model("hand-made", f"{HEADER}model_id: {model_id}\ntemperature_matrix: {{default: 0.5, creative: 1.0, precise: 0.2}}\n"
                        "safety_filters:\n  - {filter_type: pii, action: redact, threshold: 70}\nmax_tokens: 1024\ncompliance_mode: strict\n")

    done = applied.run("drift", "--env", "dev", "--fail-on-weakening")

    assert done.code == 2, done
    assert done.stdout.startswith(
        "Safety weakened outside llmplan: 1 model, 1 setting.\n\n"
        "  (each line reads live → YAML)\n\n"  # llmplan never applied it: compared with the YAML
        f'  ! hand-made ({model_id}): compliance_mode: "permissive" → "strict"\n'
    ), done
    assert "llmplan never applied this model" in done.stdout


def test_a_threshold_direction_declared_by_the_environment_decides_what_pages(applied: Project, admin: Admin) -> None:
    admin.patch(SUPPORT, safety_filters=[{"filter_type": "pii", "action": "redact", "threshold": 50}, PII_FLAG[1]])  # 85 → 50
    assert applied.run("drift", "--env", "dev", "--fail-on-weakening").code == 0  # lower is stricter, by default

    with (applied.env_dir / "environment.yaml").open("a", encoding="utf-8") as settings:
        settings.write("safety:\n  threshold: higher\n")
    done = applied.run("drift", "--env", "dev", "--fail-on-weakening")
    assert done.code == 2, done
    assert "with a lower threshold the pii filter is less sensitive (safety.threshold: higher is stricter)" in done.stdout
    document = json.loads(applied.run("drift", "--env", "dev", "--format", "json").stdout)
    assert document["llmplan"]["weakened_outside"] == 1

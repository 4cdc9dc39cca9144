"""Every safety rule through `llmplan plan` against the real sandbox: the
JSON carries each change's classification and reasons, the text plan lists
every weakening before the summary and counts them, the markdown puts them
first under a warning heading."""

from __future__ import annotations

import json

import pytest

from tests.plan.e2e_project import SUPPORT, SUPPORT_BOT, THREE_MODELS, Admin, Project

PII = "{filter_type: pii, action: redact, threshold: 85}"
SELF_HARM = "  - {filter_type: self_harm, action: block, threshold: 10}\n"

# (edit of support-bot.yaml: old → new, the environment's safety block, field, effect, the reason's words)
RULES = [
    pytest.param("compliance_mode: strict", "compliance_mode: permissive", "", "compliance_mode", "weakens",
                 "permissive is a weaker compliance mode than strict (strictest first: strict > standard > permissive)", id="compliance-weakens"),
    pytest.param("compliance_mode: strict", "compliance_mode: standard", "safety:\n  compliance_mode: [standard, strict, permissive]\n", "compliance_mode", "strengthens",
                 "standard is a stronger compliance mode than strict (strictest first: standard > strict > permissive)", id="compliance-order-overridden"),
    pytest.param(PII, "{filter_type: pii, action: flag, threshold: 85}", "", "safety_filters[pii].action", "weakens",
                 "flag is a weaker action for the pii filter than redact (strongest first: block > redact > flag)", id="action-weakens"),
    pytest.param(PII, "{filter_type: pii, action: block, threshold: 85}", "", "safety_filters[pii].action", "strengthens",
                 "block is a stronger action for the pii filter than redact (strongest first: block > redact > flag)", id="action-strengthens"),
    pytest.param(SELF_HARM, "", "", "safety_filters[self_harm]", "weakens",
                 "the self_harm filter is removed: nothing screens self_harm content any more", id="filter-removed"),
    pytest.param(SELF_HARM, SELF_HARM + "  - {filter_type: profanity, action: flag, threshold: 50}\n", "", "safety_filters[profanity]", "strengthens",
                 "a profanity filter is added: profanity content is screened from now on", id="filter-added"),
    pytest.param(PII, "{filter_type: pii, action: redact, threshold: 95}", "", "safety_filters[pii].threshold", "weakens",
                 "with a higher threshold the pii filter acts on less content (safety.threshold: lower is stricter)", id="threshold-default-lower"),
    pytest.param(PII, "{filter_type: pii, action: redact, threshold: 50}", "", "safety_filters[pii].threshold", "strengthens",
                 "with a lower threshold the pii filter acts on more content (safety.threshold: lower is stricter)", id="threshold-lowered"),
    pytest.param(PII, "{filter_type: pii, action: redact, threshold: 50}", "safety:\n  threshold: higher\n", "safety_filters[pii].threshold", "weakens",
                 "with a lower threshold the pii filter is less sensitive (safety.threshold: higher is stricter)", id="threshold-declared-higher"),
    pytest.param(PII, "{filter_type: pii, action: redact, threshold: 95}", "safety:\n  threshold: unknown\n", "safety_filters[pii].threshold", "behaviour",
                 "which way a threshold is stricter is not declared for this environment (safety.threshold: unknown)", id="threshold-unknown"),
    pytest.param("default: 0.7", "default: 0.9", "", "temperature_matrix.default", "behaviour",
                 "temperature changes how the model words its answers, not what it may say", id="temperature-behaviour"),
    pytest.param("max_tokens: 2048", "max_tokens: 4096", "", "max_tokens", "behaviour",
                 "max_tokens changes how long answers may be, not what they may say", id="max-tokens-behaviour"),
]


@pytest.fixture
def applied(project: Project) -> Project:
    project.write_models(THREE_MODELS)
    project.apply()
    return project


@pytest.mark.parametrize(("old", "new", "safety", "path", "effect", "reason"), RULES)
def test_each_rule_classifies_the_change_in_every_format(applied: Project, old: str, new: str, safety: str, path: str, effect: str, reason: str) -> None:
    if safety:
        with (applied.env_dir / "environment.yaml").open("a", encoding="utf-8") as settings:
            settings.write(safety)
    applied.edit_model("support-bot", old, new)

    code, document = applied.json("plan", "--env", "dev")
    assert code == 0
    changes = {entry["address"]: entry["llmplan"]["safety"] for entry in document["resource_changes"]}
    assert changes["intent-router"] == changes["summarizer"] == {"classification": "neutral", "reasons": []}
    (finding,) = changes["support-bot"]["reasons"]
    assert (changes["support-bot"]["classification"], finding["path"], finding["effect"], finding["reason"]) == (effect, path, effect, reason)

    text = applied.run("plan", "--env", "dev").stdout
    markdown = applied.run("plan", "--env", "dev", "--format", "markdown").stdout
    if effect == "weakens":
        before, after = (json.dumps(finding[side], sort_keys=True, separators=(", ", ": ")) if finding[side] is not None else "(none)" for side in ("before", "after"))
        assert text.endswith(
            "Safety: this plan weakens 1 setting of 1 model:\n\n"
            f"  ! support-bot: {path}: {before} → {after}\n      {reason}\n\n"
            "Plan: 0 to create, 1 to update, 0 to forget. 1 change weakens safety.\n"
        ), text
        title, blank, heading = markdown.splitlines()[:3]
        assert title.endswith("Plan: 0 to create, 1 to update, 0 to forget. 1 change weakens safety.") and blank == ""
        assert heading == "#### ⚠️ This plan weakens safety: 1 setting of 1 model"
        assert f"| `support-bot` | `{path}` | `{before} → {after}` | {reason} |" in markdown
    else:
        assert "Safety" not in text and "weakens safety" not in markdown
        assert text.endswith("Plan: 0 to create, 1 to update, 0 to forget.\n"), text


def test_a_first_configuration_is_neutral_and_says_why(project: Project) -> None:
    project.write_models({"support-bot": SUPPORT_BOT.replace("compliance_mode: strict", "compliance_mode: permissive")})
    code, document = project.json("plan", "--env", "dev")
    assert code == 0
    (entry,) = document["resource_changes"]
    assert entry["llmplan"]["safety"]["classification"] == "neutral"
    assert entry["llmplan"]["safety"]["reasons"][0]["reason"].startswith("first configuration of this model")


def test_several_weakenings_are_each_listed_and_counted_per_change(applied: Project) -> None:
    applied.edit_model("support-bot", "compliance_mode: strict", "compliance_mode: standard")
    applied.edit_model("support-bot", SELF_HARM, "")
    applied.edit_model("intent-router", "{filter_type: profanity, action: flag, threshold: 70}", "{filter_type: profanity, action: flag, threshold: 80}")
    applied.edit_model("summarizer", "max_tokens: 4096", "max_tokens: 1024")

    done = applied.run("plan", "--env", "dev", "--detailed-exitcode")

    assert done.code == 2, done
    safety = done.stdout[done.stdout.index("Safety:"):]
    assert safety == (
        "Safety: this plan weakens 3 settings of 2 models:\n\n"
        "  ! intent-router: safety_filters[profanity].threshold: 70 → 80\n"
        "      with a higher threshold the profanity filter acts on less content (safety.threshold: lower is stricter)\n"
        '  ! support-bot: compliance_mode: "strict" → "standard"\n'
        "      standard is a weaker compliance mode than strict (strictest first: strict > standard > permissive)\n"
        '  ! support-bot: safety_filters[self_harm]: {"action": "block", "threshold": 10} → (none)\n'
        "      the self_harm filter is removed: nothing screens self_harm content any more\n\n"
        "Plan: 0 to create, 3 to update, 0 to forget. 2 changes weaken safety.\n"
    )


def test_a_weakening_made_outside_llmplan_is_named_in_the_plan_and_its_json(applied: Project, admin: Admin) -> None:
    admin.patch(SUPPORT, compliance_mode="permissive")

    done = applied.run("plan", "--env", "dev")

    assert done.stdout.endswith(
        "Safety weakened outside llmplan since the last apply:\n\n"
        "  (each line reads live → last applied)\n\n"
        '  ! support-bot: compliance_mode: "permissive" → "strict"\n'
        "      permissive is a weaker compliance mode than strict (strictest first: strict > standard > permissive)\n\n"
        "Plan: 0 to create, 1 to update, 0 to forget.\n"
    ), done
    # the plan itself restores strict: a strengthening, which needs no yes
    code, document = applied.json("plan", "--env", "dev")
    (drifted,) = document["resource_drift"]
    assert drifted["llmplan"]["safety"]["classification"] == "weakens"
    (change,) = [entry for entry in document["resource_changes"] if entry["address"] == "support-bot"]
    assert change["llmplan"]["safety"]["classification"] == "strengthens"

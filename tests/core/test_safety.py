"""The safety classification as a pure function, table by table: every rule,
its reason in words, the environment's overrides, the verdict a change adds
up to, and the gate apply calls.  No server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from planner.adapters.identity import actor
from planner.core.diff import diff_configurations
from planner.core.plan_file import from_document, to_document
from planner.core.safety import audit_fields, classify, classify_action, weakening_gate
from planner.core.validation import schema_violations
from planner.model import schemas
from planner.model.errors import Aborted, WeakeningRefused
from planner.model.plan import FieldChange, ResourceChange
from planner.model.safety import ALLOW, BEHAVIOUR, CONFIRM, NEUTRAL, REFUSE, STRENGTHENS, VIA_FLAG, VIA_POLICY, VIA_TERMINAL, WEAKENS, Classification, Finding, default_rules, rules_for

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
RULES = default_rules()

PII = {"action": "redact", "threshold": 85}

# (field change, effect, words the reason must contain) under the shipped rules
CASES = [
    # compliance_mode: strict > standard > permissive
    (FieldChange("compliance_mode", "strict", "permissive"), WEAKENS, "permissive is a weaker compliance mode than strict (strictest first: strict > standard > permissive)"),
    (FieldChange("compliance_mode", "strict", "standard"), WEAKENS, "standard is a weaker compliance mode than strict"),
    (FieldChange("compliance_mode", "permissive", "standard"), STRENGTHENS, "standard is a stronger compliance mode than permissive"),
    # filter action: block > redact > flag
    (FieldChange("safety_filters[pii].action", "block", "flag"), WEAKENS, "flag is a weaker action for the pii filter than block (strongest first: block > redact > flag)"),
    (FieldChange("safety_filters[pii].action", "redact", "flag"), WEAKENS, "flag is a weaker action for the pii filter than redact"),
    (FieldChange("safety_filters[self_harm].action", "redact", "block"), STRENGTHENS, "block is a stronger action for the self_harm filter than redact"),
    # a removed filter weakens, an added one strengthens
    (FieldChange("safety_filters[self_harm]", PII, None), WEAKENS, "the self_harm filter is removed: nothing screens self_harm content any more"),
    (FieldChange("safety_filters[profanity]", None, PII), STRENGTHENS, "a profanity filter is added"),
    # threshold, shipped direction: lower is stricter
    (FieldChange("safety_filters[pii].threshold", 85, 90), WEAKENS, "with a higher threshold the pii filter acts on less content (safety.threshold: lower is stricter)"),
    (FieldChange("safety_filters[pii].threshold", 85, 60.5), STRENGTHENS, "with a lower threshold the pii filter acts on more content"),
    # behaviour: neither stronger nor weaker
    (FieldChange("temperature_matrix.creative", 1.2, 1.5), BEHAVIOUR, "temperature changes how the model words its answers, not what it may say"),
    (FieldChange("temperature_matrix.precise", None, 0.1), BEHAVIOUR, "temperature"),
    (FieldChange("max_tokens", 2048, 8192), BEHAVIOUR, "max_tokens changes how long answers may be"),
    (FieldChange("max_tokens", 2048, 512), BEHAVIOUR, "max_tokens"),
    # no rule covers it
    (FieldChange("model_id", SUPPORT, SUPPORT.upper()), NEUTRAL, "no safety rule covers this field"),
]


@pytest.mark.parametrize(("change", "effect", "reason"), CASES, ids=lambda value: value.path if isinstance(value, FieldChange) else None)
def test_each_rule_gives_its_effect_and_a_reason_in_words(change: FieldChange, effect: str, reason: str) -> None:
    (finding,) = classify([change], RULES).findings
    assert (finding.path, finding.effect, finding.before, finding.after) == (change.path, effect, change.before, change.after)
    assert reason in finding.reason


def config(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model_id": SUPPORT,
        "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.3},
        "safety_filters": [{"filter_type": "pii", "action": "redact", "threshold": 85}, {"filter_type": "self_harm", "action": "block", "threshold": 10}],
        "max_tokens": 2048,
        "compliance_mode": "strict",
    }
    base.update(fields)
    return base


@pytest.mark.parametrize(
    ("after", "verdict"),
    [
        (config(), NEUTRAL),  # nothing changes
        (config(max_tokens=1024), BEHAVIOUR),
        (config(max_tokens=1024, compliance_mode="strict", safety_filters=[{"filter_type": "pii", "action": "block", "threshold": 85}, {"filter_type": "self_harm", "action": "block", "threshold": 10}]), STRENGTHENS),
        # one weakening outweighs any strengthening: it is what needs the yes
        (config(compliance_mode="permissive", safety_filters=[{"filter_type": "pii", "action": "block", "threshold": 5}, {"filter_type": "self_harm", "action": "block", "threshold": 10}]), WEAKENS),
        # reordering filters is no change at all
        (config(safety_filters=list(reversed(config()["safety_filters"]))), NEUTRAL),
    ],
)
def test_a_change_is_its_strongest_effect_weakens_first(after: dict[str, Any], verdict: str) -> None:
    assert classify(diff_configurations(config(), after), RULES).verdict == verdict


def test_a_first_configuration_and_a_forget_compare_with_nothing() -> None:
    created = classify_action("create", [FieldChange("compliance_mode", None, "permissive")], RULES)
    assert created.verdict == NEUTRAL and "first configuration" in created.findings[0].reason
    assert classify_action("forget", [], RULES).verdict == NEUTRAL
    assert classify_action("no-op", [], RULES) == Classification()


@pytest.mark.parametrize(
    ("overrides", "change", "effect", "reason"),
    [
        # a gateway whose threshold is a sensitivity: higher is stricter
        ({"threshold": "higher"}, FieldChange("safety_filters[pii].threshold", 85, 60), WEAKENS, "with a lower threshold the pii filter is less sensitive (safety.threshold: higher is stricter)"),
        ({"threshold": "higher"}, FieldChange("safety_filters[pii].threshold", 60, 85), STRENGTHENS, "is more sensitive"),
        # an environment that does not know: behaviour, said so
        ({"threshold": "unknown"}, FieldChange("safety_filters[pii].threshold", 85, 60), BEHAVIOUR, "which way a threshold is stricter is not declared for this environment (safety.threshold: unknown)"),
        # another order of compliance modes
        ({"compliance_mode": ["standard", "strict", "permissive"]}, FieldChange("compliance_mode", "standard", "strict"), WEAKENS, "strict is a weaker compliance mode than standard (strictest first: standard > strict > permissive)"),
        ({"filter_action": ["redact", "block", "flag"]}, FieldChange("safety_filters[pii].action", "redact", "block"), WEAKENS, "(strongest first: redact > block > flag)"),
        ({"filter_removed": "behaviour"}, FieldChange("safety_filters[pii]", PII, None), BEHAVIOUR, "the pii filter is removed"),
        ({"filter_added": "neutral"}, FieldChange("safety_filters[pii]", None, PII), NEUTRAL, "a pii filter is added"),
        # a field left out of `behaviour` is neutral
        ({"behaviour": ["temperature_matrix"]}, FieldChange("max_tokens", 2048, 512), NEUTRAL, "no safety rule covers this field"),
    ],
)
def test_an_environment_overrides_a_rule_and_only_that_rule(overrides: dict[str, Any], change: FieldChange, effect: str, reason: str) -> None:
    rules = rules_for(overrides)
    (finding,) = classify([change], rules).findings
    assert finding.effect == effect
    assert reason in finding.reason
    untouched = {key: value for key, value in json.loads((schemas.schemas_dir() / "safety-rules.json").read_text()).items() if key not in overrides}
    for key, value in untouched.items():
        assert getattr(rules, key) == (tuple(value) if isinstance(value, list) else value), key


def test_the_shipped_rules_file_is_valid_and_says_what_the_docs_say() -> None:
    data = json.loads((schemas.schemas_dir() / "safety-rules.json").read_text(encoding="utf-8"))
    assert schema_violations(schemas.validator("safety-rules.schema.json"), data) == []
    assert data == {
        "compliance_mode": ["strict", "standard", "permissive"],
        "filter_action": ["block", "redact", "flag"],
        "filter_removed": "weakens",
        "filter_added": "strengthens",
        "threshold": "lower",
        "behaviour": ["temperature_matrix", "max_tokens"],
    }


def weakening_change() -> ResourceChange:
    changes = (FieldChange("safety_filters[pii].action", "redact", "flag"),)
    before = config()
    after = config(safety_filters=[{"filter_type": "pii", "action": "flag", "threshold": 85}, before["safety_filters"][1]])
    return ResourceChange("support-bot", SUPPORT, "update", before, after, changes, 3, None, classify(changes, RULES))


def harmless_change() -> ResourceChange:
    changes = (FieldChange("max_tokens", 2048, 1024),)
    return ResourceChange("summarizer", SUPPORT, "update", config(), config(max_tokens=1024), changes, 3, None, classify(changes, RULES))


def never_asked(changes: Any) -> bool:
    raise AssertionError("asked, but should not have been")


def test_refuse_names_each_weakening_and_the_remedy() -> None:
    with pytest.raises(WeakeningRefused) as refused:
        weakening_gate([harmless_change(), weakening_change()], REFUSE, environment="prod", allowed=False)
    assert refused.value.message == (
        "this plan weakens safety, and environment prod refuses weakenings (apply.weakening: refuse):\n"
        '  support-bot: safety_filters[pii].action: "redact" → "flag"; flag is a weaker action for the pii filter than redact (strongest first: block > redact > flag)'
    )
    assert "--allow-weakening" in (refused.value.hint or "")


@pytest.mark.parametrize(
    ("policy", "allowed", "answer", "via"),
    [
        (REFUSE, True, None, VIA_FLAG),
        (CONFIRM, True, None, VIA_FLAG),  # the flag is the yes: no question
        (CONFIRM, False, True, VIA_TERMINAL),
        (ALLOW, False, None, VIA_POLICY),
    ],
)
def test_an_allowed_weakening_records_who_and_how(policy: str, allowed: bool, answer: bool | None, via: str) -> None:
    asked: list[Any] = []

    def ask(changes: Any) -> bool:
        asked.append([change.address for change in changes])
        assert answer is not None, "asked, but should not have been"
        return answer

    gate = weakening_gate([harmless_change(), weakening_change()], policy, environment="dev", allowed=allowed)
    approval = gate.approve(ask, actor({"GITHUB_ACTOR": "octocat"}))
    assert approval is not None and (approval.by, approval.via) == ("octocat (GITHUB_ACTOR)", via)
    assert asked == ([["support-bot"]] if answer is not None else [])


def test_confirm_answered_no_cancels() -> None:
    gate = weakening_gate([weakening_change()], CONFIRM, environment="dev", allowed=False)
    with pytest.raises(Aborted, match="the weakenings were not confirmed; nothing was changed"):
        gate.approve(lambda changes: False, actor({}))


@pytest.mark.parametrize("policy", [REFUSE, CONFIRM, ALLOW])
def test_a_plan_without_weakenings_passes_every_policy_without_a_question(policy: str) -> None:
    assert weakening_gate([harmless_change()], policy, environment="prod", allowed=False).approve(never_asked, actor({})) is None


def test_the_actor_is_the_ci_user_else_the_local_user() -> None:
    assert actor({"GITLAB_USER_LOGIN": "alice", "BUILD_USER_ID": "jenkins"}) == "alice (GITLAB_USER_LOGIN)"
    assert actor({"GITHUB_ACTOR": ""}).endswith(" (local user)")
    assert "@" in actor({})


def test_audit_fields_carry_the_classification_and_for_a_weakening_who_allowed_it() -> None:
    from planner.model.safety import Approval

    weak = weakening_change().classification
    block = audit_fields(weak, Approval("octocat (GITHUB_ACTOR)", VIA_FLAG))["safety"]
    assert block["classification"] == WEAKENS
    assert (block["allowed_by"], block["allowed_via"]) == ("octocat (GITHUB_ACTOR)", "--allow-weakening")
    assert block["reasons"] == [{"path": "safety_filters[pii].action", "effect": WEAKENS, "before": "redact", "after": "flag", "reason": weak.findings[0].reason}]
    assert "allowed_by" not in audit_fields(harmless_change().classification, Approval("x", VIA_FLAG))["safety"]
    assert audit_fields(Classification(), None) == {}


def test_the_classification_travels_in_the_plan_file_and_back() -> None:
    from planner.model.plan import Plan, SafetyCheck

    plan = Plan("dev", "2026-11-25T10:00:00.000Z", "0.1.0", None, 0, (harmless_change(), weakening_change()), (), SafetyCheck(100, 2, 2))
    document = to_document(plan)
    assert schema_violations(schemas.validator(schemas.PLAN), document) == []
    entries = {entry["address"]: entry["llmplan"]["safety"] for entry in document["resource_changes"]}
    assert entries["support-bot"]["classification"] == WEAKENS and entries["summarizer"]["classification"] == BEHAVIOUR
    loaded = from_document(document)
    assert [change.classification for change in loaded.changes] == [change.classification for change in plan.changes]
    assert [change.address for change in loaded.weakening] == ["support-bot"]


def test_a_plan_saved_before_classification_is_classified_by_the_shipped_rules() -> None:
    from planner.core.plan_file import document_checksum
    from planner.model.plan import Plan, SafetyCheck

    plan = Plan("dev", "2026-11-25T10:00:00.000Z", "0.1.0", None, 0, (weakening_change(),), (), SafetyCheck(100, 1, 1))
    document = to_document(plan)
    for entry in document["resource_changes"]:
        del entry["llmplan"]
    document["llmplan"]["checksum"] = document_checksum(document)
    (change,) = from_document(document).changes
    assert change.classification.verdict == WEAKENS
    assert change.classification.findings == (Finding("safety_filters[pii].action", WEAKENS, "redact", "flag", weakening_change().classification.findings[0].reason),)

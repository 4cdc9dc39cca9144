"""Drift report renderers against hand-written expected text, markdown and JSON."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from types import MappingProxyType

from planner.core.drift import BOTH, CHANGED_OUTSIDE, NEVER_APPLIED, REMOVED, DriftedModel, DriftReport, UnmanagedModel
from planner.core.safety import classify
from planner.model.plan import ConfiguredModel, FieldChange, RecordedModel
from planner.model.safety import default_rules
from planner.render.drift import render_drift

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
ROUTER = "c3d4e5f6-a7b8-4901-8cde-f12345678902"
SUMMARIZER = "b2c3d4e5-f6a7-4890-9bcd-ef1234567891"
TRANSLATOR = "e5f6a7b8-c9d0-4123-8ef0-234567890124"
APPLIED = "2026-11-24T09:00:00.000Z"


def report(drifted: tuple[DriftedModel, ...] = (), unmanaged: tuple[UnmanagedModel, ...] = ()) -> DriftReport:
    return DriftReport("prod", "2026-11-25T10:00:00.000Z", "0.1.0", 4, drifted, unmanaged)


SUPPORT_DRIFT = DriftedModel(
    "support-bot", SUPPORT, CHANGED_OUTSIDE,
    {"max_tokens": 2048}, {"max_tokens": 1024}, {"max_tokens": 2048},
    (FieldChange("max_tokens", 1024, 2048),), 5, 4, APPLIED,
)
ROUTER_NEVER = DriftedModel(
    "intent-router", ROUTER, NEVER_APPLIED,
    {"max_tokens": 512}, None, None,
    (FieldChange("max_tokens", None, 512),), None, None, None,
)
SUMMARIZER_BOTH = DriftedModel(
    "summarizer", SUMMARIZER, BOTH,
    {"compliance_mode": "strict"}, {"compliance_mode": "permissive"}, {"compliance_mode": "standard"},
    (FieldChange("compliance_mode", "permissive", "strict"), FieldChange("safety_filters[pii]", {"action": "flag", "threshold": 5}, None)), 3, 2, APPLIED,
)
TRANSLATOR_REMOVED = DriftedModel(
    "translator", TRANSLATOR, REMOVED,
    {"max_tokens": 6000}, None, {"max_tokens": 6000},
    (FieldChange("max_tokens", None, 6000),), None, 7, APPLIED,
)
UNMANAGED = (UnmanagedModel(TRANSLATOR, "gemini-translate", 7),)

EXPECTED_TEXT = f"""\
Drift in environment prod: 3 of 4 models differ from the YAML; 1 configuration on the gateway is unmanaged (in no YAML file).

  (each line reads live → YAML: what apply would change back)

  ~ intent-router ({ROUTER}): live differs from YAML; llmplan never applied this model (never configured on the gateway)
      + max_tokens: 512

  ~ summarizer ({SUMMARIZER}): live changed outside llmplan and YAML changed but not applied (last applied {APPLIED} as version 2, live version 3)
      ~ compliance_mode: "permissive" → "strict"
      - safety_filters[pii]: {{"action": "flag", "threshold": 5}}

  ~ support-bot ({SUPPORT}): live changed outside llmplan (last applied {APPLIED} as version 4, live version 5)
      ~ max_tokens: 1024 → 2048

Unmanaged: 1 configured model on the gateway is in no YAML file of prod:
  ? gemini-translate ({TRANSLATOR})
  Adopt them with: llmplan import --env prod --model-id ID

To restore the YAML: llmplan plan --env prod, then apply. To accept a reviewed change instead: edit the YAML to match, then llmplan refresh --env prod.
"""


def rendered(value: DriftReport, output_format: str, *, color: bool = False) -> str:
    out = io.StringIO()
    render_drift(value, out, output_format, color=color)
    return out.getvalue()


def test_text_says_which_side_moved_and_since_when() -> None:
    assert rendered(report((ROUTER_NEVER, SUMMARIZER_BOTH, SUPPORT_DRIFT), UNMANAGED), "text") == EXPECTED_TEXT


def test_text_without_drift_is_one_line_and_uncolored_unless_asked() -> None:
    assert rendered(report(), "text") == "No drift: the live configuration of environment prod matches the YAML (4 models).\n"
    assert "\x1b[" not in rendered(report((SUPPORT_DRIFT,)), "text")
    assert "\x1b[33m~\x1b[0m support-bot" in rendered(report((SUPPORT_DRIFT,)), "text", color=True)


def test_markdown_fits_an_issue_body() -> None:
    assert rendered(report((SUPPORT_DRIFT,), UNMANAGED), "markdown") == f"""\
### llmplan drift · `prod` · 1 of 4 models drifted, 1 unmanaged

Drift in environment prod: 1 of 4 models differ from the YAML; 1 configuration on the gateway is unmanaged (in no YAML file).

| model | what moved | since | fields |
|---|---|---|---|
| `support-bot` | live changed outside llmplan | last applied {APPLIED} as version 4, live version 5 | `max_tokens` |

<details><summary>Field-level differences (each line reads live → YAML: what apply would change back)</summary>

```diff
@@ support-bot ({SUPPORT}) @@
-   max_tokens: 1024
+   max_tokens: 2048
```

</details>

1 unmanaged model on the gateway: `gemini-translate` ({TRANSLATOR}).
"""


def test_json_has_resource_drift_and_the_summary_block() -> None:
    document = json.loads(rendered(report((SUPPORT_DRIFT, ROUTER_NEVER), UNMANAGED), "json"))
    assert document["format_version"] == "1.2"
    assert document["summary"] == {"total": 4, "drifted": 2, "unmanaged": 1}
    assert document["unmanaged"] == [{"model_id": TRANSLATOR, "name": "gemini-translate", "version": 7}]
    support, router = document["resource_drift"]
    assert support == {
        "address": "support-bot",
        "mode": "managed",
        "type": "llm_model_configuration",
        "name": "support-bot",
        "provider_name": "registry.terraform.io/llmplan/llm",
        "change": {
            "actions": ["update"],
            "before": {"max_tokens": 1024},  # live → YAML
            "after": {"max_tokens": 2048},
            "after_unknown": {},
            "before_sensitive": {},
            "after_sensitive": {},
        },
        "model_id": SUPPORT,
        "drift_kind": "changed_outside",
        "description": "live changed outside llmplan",
        "last_applied": {"max_tokens": 2048},
        "applied_at": APPLIED,
        "state_version": 4,
        "live_version": 5,
        "field_changes": [{"path": "max_tokens", "before": 1024, "after": 2048}],
        "llmplan": {"safety": {"classification": "neutral", "reasons": []}},  # built by hand: not classified
    }
    assert (router["drift_kind"], router["change"]["before"], router["live_version"], router["applied_at"]) == ("never_applied", None, None, None)
    assert router["change"]["before_sensitive"] is False
    # no state given: no prior_state, as Terraform leaves it out; no files given: an empty configuration
    assert "prior_state" not in document
    assert document["configuration"]["root_module"]["resources"] == []


def test_json_carries_the_state_and_the_files_in_terraforms_shapes() -> None:
    files = (
        ConfiguredModel("intent-router", "environments/prod/models/intent-router.yaml", {"model_id": ROUTER, "max_tokens": 512}),
        ConfiguredModel("support-bot", "environments/prod/models/support-bot.yaml", {"model_id": SUPPORT, "max_tokens": 2048}),
    )
    recorded = (RecordedModel("support-bot", MappingProxyType({"model_id": SUPPORT, "max_tokens": 2048}), 4, APPLIED),)
    drift = DriftReport("prod", "2026-11-25T10:00:00.000Z", "0.1.0", 2, (SUPPORT_DRIFT, ROUTER_NEVER), (), files, recorded)
    document = json.loads(rendered(drift, "json"))
    assert list(document)[:7] == ["format_version", "terraform_version", "llmplan_version", "timestamp", "resource_drift", "prior_state", "configuration"]
    assert "planned_values" not in document  # a drift report plans nothing
    assert document["prior_state"] == {
        "format_version": "1.0",
        "terraform_version": "1.5.0",
        "values": {"root_module": {"resources": [{
            "address": "support-bot", "mode": "managed", "type": "llm_model_configuration", "name": "support-bot",
            "provider_name": "registry.terraform.io/llmplan/llm", "schema_version": 0,
            "values": {"max_tokens": 2048, "model_id": SUPPORT}, "sensitive_values": {},
            "version": 4, "applied_at": APPLIED,
        }]}},
    }
    router, support = document["configuration"]["root_module"]["resources"]
    assert support == {
        "address": "support-bot", "mode": "managed", "type": "llm_model_configuration", "name": "support-bot",
        "provider_config_key": "llm",
        "expressions": {"max_tokens": {"constant_value": 2048}, "model_id": {"constant_value": SUPPORT}},
        "schema_version": 0,
        "file": "environments/prod/models/support-bot.yaml",
    }
    assert router["address"] == "intent-router"
    assert document["configuration"]["provider_config"] == {"llm": {"name": "llm", "full_name": "registry.terraform.io/llmplan/llm"}}


def test_a_configuration_removed_on_the_gateway_is_named_as_such_with_the_state_version() -> None:
    text = rendered(report((TRANSLATOR_REMOVED,)), "text")
    assert f"  ~ translator ({TRANSLATOR}): configuration removed on the gateway outside llmplan (last applied {APPLIED} as version 7, removed on the gateway)\n" in text
    assert "      + max_tokens: 6000\n" in text
    markdown = rendered(report((TRANSLATOR_REMOVED,)), "markdown")
    assert f"| `translator` | configuration removed on the gateway outside llmplan | last applied {APPLIED} as version 7, removed on the gateway | `max_tokens` |" in markdown
    (entry,) = json.loads(rendered(report((TRANSLATOR_REMOVED,)), "json"))["resource_drift"]
    assert (entry["drift_kind"], entry["state_version"], entry["live_version"], entry["change"]["before"]) == ("removed", 7, None, None)
    for output in (text, markdown):
        assert "None" not in output and "never configured" not in output


def test_every_section_reads_from_live_and_says_to_what() -> None:
    """The safety section turns the weakening made outside llmplan (last applied → live) around, so that
    a setting reads the same in it and in the drift section below: live first."""
    weakened = replace(
        SUPPORT_DRIFT,
        changes=(FieldChange("compliance_mode", "permissive", "strict"),),  # live → YAML
        outside=classify((FieldChange("compliance_mode", "strict", "permissive"),), default_rules()),  # last applied → live
    )
    text = rendered(report((weakened,)), "text")
    assert text.startswith(
        "Safety weakened outside llmplan: 1 model, 1 setting.\n\n"
        "  (each line reads live → last applied)\n\n"
        f'  ! support-bot ({SUPPORT}): compliance_mode: "permissive" → "strict"\n'
    ), text
    assert '      ~ compliance_mode: "permissive" → "strict"\n' in text  # the drift section: the same two values, the same order
    assert "  (each line reads live → YAML: what apply would change back)\n" in text
    markdown = rendered(report((weakened,)), "markdown")
    assert "| model | field | live → last applied | why |" in markdown and '`"permissive" → "strict"`' in markdown

    never = replace(ROUTER_NEVER, live={"compliance_mode": "permissive"}, outside=weakened.outside)
    assert "  (each line reads live → YAML)\n" in rendered(report((never,)), "text")  # no last apply: compared with the YAML
    both = rendered(report((never, weakened)), "text")
    assert "  (each line reads live → last applied; for a model llmplan never applied, live → YAML)\n" in both

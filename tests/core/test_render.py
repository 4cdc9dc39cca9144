"""Renderers against hand-written expected output for one small plan."""

from __future__ import annotations

import io
import json
from types import MappingProxyType

import pytest

from planner.core.plan_file import document_checksum, dumps, from_document, to_document
from planner.core.validation import schema_violations
from planner.model import schemas
from planner.model.errors import PlanFileError
from planner.model.plan import ConfiguredModel, DriftedResource, FieldChange, Plan, RecordedModel, ResourceChange, SafetyCheck
from planner.render.plan import render_json, render_markdown, render_text

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
ROUTER = "c3d4e5f6-a7b8-4901-8cde-f12345678902"


def small_plan() -> Plan:
    before = {"model_id": SUPPORT, "max_tokens": 1024, "compliance_mode": "strict"}
    return Plan(
        environment="dev",
        created_at="2026-11-25T10:00:00.000Z",
        tool_version="0.1.0",
        state_lineage="5b0c1c4e-2d1f-4c53-9a0e-0a6f5f1e2d3c",
        state_serial=3,
        changes=(
            ResourceChange("old-bot", "e5f6a7b8-c9d0-4123-8ef0-234567890124", "forget", {"max_tokens": 10}, None, (), 2, None),
            ResourceChange(
                "router",
                ROUTER,
                "create",
                None,
                {"model_id": ROUTER, "max_tokens": 512},
                (FieldChange("max_tokens", None, 512), FieldChange("model_id", None, ROUTER)),
                None,
                "environments/dev/models/router.yaml",
            ),
            ResourceChange(
                "support-bot",
                SUPPORT,
                "update",
                before,
                dict(before, max_tokens=2048),
                (FieldChange("max_tokens", 1024, 2048), FieldChange("safety_filters[pii]", None, {"action": "redact", "threshold": 85})),
                4,
                "environments/dev/models/support-bot.yaml",
            ),
            ResourceChange("summarizer", "b2c3d4e5-f6a7-4890-9bcd-ef1234567891", "no-op", {"max_tokens": 1}, {"max_tokens": 1}, (), 1, None),
        ),
        drift=(
            DriftedResource("support-bot", SUPPORT, dict(before, max_tokens=2048), before, (FieldChange("max_tokens", 2048, 1024),), 3, 4, "2026-11-24T09:00:00.000Z"),
        ),
        safety=SafetyCheck(max_change_percent=30, changed=2, total=3),
        configuration=(
            ConfiguredModel("router", "environments/dev/models/router.yaml", {"model_id": ROUTER, "max_tokens": 512}),
            ConfiguredModel("summarizer", "environments/dev/models/summarizer.yaml", {"max_tokens": 1}),
            ConfiguredModel("support-bot", "environments/dev/models/support-bot.yaml", dict(before, max_tokens=2048)),
        ),
        prior_state=(
            RecordedModel("old-bot", MappingProxyType({"max_tokens": 10}), 2, "2026-11-20T09:00:00.000Z"),
            RecordedModel("support-bot", MappingProxyType(dict(before, max_tokens=2048)), 3, "2026-11-24T09:00:00.000Z"),
            RecordedModel("summarizer", MappingProxyType({"max_tokens": 1}), 1, "2026-11-24T09:00:00.000Z"),
        ),
    )


EXPECTED_TEXT = """\
Changed outside llmplan since the last apply:

  ~ support-bot (applied 2026-11-24T09:00:00.000Z, state version 3, live version 4)
      ~ max_tokens: 1024 → 2048

  (each line reads live → last applied)

Warning: 2 of 3 models would change (67 %), over the 30 % limit of this environment; review the plan and re-run with --force.

Model actions are indicated with the following symbols:
  + create (a first configuration)
  ~ update in place
  - forget (dropped from state; the live configuration is left alone)
Field lines read live → YAML.

llmplan will perform the following actions in environment dev:

  # old-bot (e5f6a7b8-c9d0-4123-8ef0-234567890124) will be dropped from state; its live configuration is left alone
  - forget old-bot

  # router (c3d4e5f6-a7b8-4901-8cde-f12345678902) will be configured for the first time
  + create router
      + max_tokens: 512
      + model_id: "c3d4e5f6-a7b8-4901-8cde-f12345678902"

  # support-bot (a1b2c3d4-e5f6-7890-abcd-ef1234567890) will be updated in place (live version 4)
  ~ update support-bot
      ~ max_tokens: 1024 → 2048
      + safety_filters[pii]: {"action": "redact", "threshold": 85}
      # (1 unchanged field hidden)

Plan: 1 to create, 1 to update, 1 to forget.
"""


def test_text_rendering_reads_like_terraform() -> None:
    out = io.StringIO()
    render_text(small_plan(), out)
    assert out.getvalue() == EXPECTED_TEXT


def test_text_rendering_is_colored_only_when_asked() -> None:
    plain, colored = io.StringIO(), io.StringIO()
    render_text(small_plan(), plain, color=False)
    render_text(small_plan(), colored, color=True)
    assert "\x1b[" not in plain.getvalue()
    assert "\x1b[32m+ create router\x1b[0m" in colored.getvalue()


EXPECTED_MARKDOWN = """\
### llmplan · `dev` · Plan: 1 to create, 1 to update, 1 to forget.

> [!WARNING]
> 2 of 3 models would change (67 %), over the 30 % limit of this environment; review the plan and re-run with --force.

> [!NOTE]
> 1 model changed outside llmplan since the last apply: `support-bot`.

| | model | action | fields |
|---|---|---|---|
| - | `old-bot` | forget | — |
| + | `router` | create | — |
| ~ | `support-bot` | update | `max_tokens`, `safety_filters[pii]` |

<details><summary>Field-level changes (live → YAML)</summary>

```diff
@@ - forget old-bot (e5f6a7b8-c9d0-4123-8ef0-234567890124) @@
@@ + create router (c3d4e5f6-a7b8-4901-8cde-f12345678902) @@
+   max_tokens: 512
+   model_id: "c3d4e5f6-a7b8-4901-8cde-f12345678902"
@@ ~ update support-bot (a1b2c3d4-e5f6-7890-abcd-ef1234567890) @@
-   max_tokens: 1024
+   max_tokens: 2048
+   safety_filters[pii]: {"action": "redact", "threshold": 85}
```

</details>

<details><summary>Changed outside llmplan (live → last applied)</summary>

```diff
@@ ~ support-bot (applied 2026-11-24T09:00:00.000Z, state version 3, live version 4) @@
-   max_tokens: 1024
+   max_tokens: 2048
```

</details>
"""


def test_markdown_rendering_fits_a_pull_request_comment() -> None:
    out = io.StringIO()
    render_markdown(small_plan(), out)
    assert out.getvalue() == EXPECTED_MARKDOWN


def test_json_rendering_has_the_terraform_show_json_shape_and_validates() -> None:
    out = io.StringIO()
    render_json(small_plan(), out)
    document = json.loads(out.getvalue())
    assert document["format_version"] == "1.2"
    assert [r["address"] for r in document["resource_changes"]] == ["old-bot", "router", "support-bot", "summarizer"]
    support = document["resource_changes"][2]
    assert support["mode"] == "managed"
    assert support["type"] == "llm_model_configuration"
    assert support["name"] == "support-bot"
    assert support["change"]["actions"] == ["update"]
    assert support["change"]["before"]["max_tokens"] == 1024
    assert support["change"]["after"]["max_tokens"] == 2048
    assert document["resource_changes"][3]["change"]["actions"] == ["no-op"]
    assert document["resource_drift"][0]["address"] == "support-bot"
    assert document["llmplan"]["summary"] == {"create": 1, "update": 1, "forget": 1, "move": 0, "no_op": 1, "drifted": 1}
    assert document["llmplan"]["safety"]["exceeded"] is True
    assert schema_violations(schemas.validator(schemas.PLAN), document) == []


def test_planned_values_are_the_models_after_apply_and_forgets_leave_them() -> None:
    document = to_document(small_plan())
    planned = document["planned_values"]["root_module"]["resources"]
    assert [(r["address"], r["values"]) for r in planned] == [
        ("router", {"model_id": ROUTER, "max_tokens": 512}),
        ("support-bot", {"model_id": SUPPORT, "max_tokens": 2048, "compliance_mode": "strict"}),
        ("summarizer", {"max_tokens": 1}),  # a no-op stays what it is
    ]
    assert {(r["mode"], r["type"], r["provider_name"], r["schema_version"]) for r in planned} == {("managed", "llm_model_configuration", "registry.terraform.io/llmplan/llm", 0)}
    assert [r["address"] for r in document["prior_state"]["values"]["root_module"]["resources"]] == ["old-bot", "support-bot", "summarizer"]
    assert [r["address"] for r in document["configuration"]["root_module"]["resources"]] == ["router", "summarizer", "support-bot"]
    forget = document["resource_changes"][0]["change"]
    assert (forget["actions"], forget["after"], forget["after_sensitive"], forget["before_sensitive"]) == (["forget"], None, False, {})


def test_the_saved_document_round_trips_to_the_same_plan() -> None:
    plan = small_plan()
    assert from_document(to_document(plan)) == plan
    assert dumps(from_document(json.loads(dumps(plan)))) == dumps(plan)


def test_the_saved_text_is_one_compact_line_as_terraform_writes_it() -> None:
    """terraform-compliance parses a plan file's first line only."""
    text = dumps(small_plan())
    assert text.count("\n") == 1 and text.endswith("}\n")
    assert text.startswith('{"format_version":"1.2","terraform_version":"1.5.0","llmplan_version":"0.1.0","planned_values":{"root_module":{"resources":[{"address":"router",')
    assert json.loads(text) == json.loads(json.dumps(to_document(small_plan())))


def saved(plan: Plan) -> dict:
    """The document as a file holds it (to_document's sections share their bodies)."""
    return json.loads(dumps(plan))


def test_a_plan_whose_planned_values_differ_from_its_changes_is_refused() -> None:
    document = saved(small_plan())
    document["planned_values"]["root_module"]["resources"][1]["values"]["compliance_mode"] = "permissive"
    document["llmplan"]["checksum"] = document_checksum(document)
    with pytest.raises(PlanFileError, match="planned_values and resource_changes disagree on support-bot"):
        from_document(document)
    document = saved(small_plan())
    del document["planned_values"]["root_module"]["resources"][0]  # a create the gate never sees
    document["llmplan"]["checksum"] = document_checksum(document)
    with pytest.raises(PlanFileError, match="disagree on router"):
        from_document(document)


def test_no_changes_says_so_plainly() -> None:
    plan = Plan("dev", "t", "0.1.0", None, 0, (ResourceChange("a", SUPPORT, "no-op", {"x": 1}, {"x": 1}),), (), SafetyCheck(100, 0, 1))
    out = io.StringIO()
    render_text(plan, out)
    assert out.getvalue() == "No changes. The live configuration of environment dev matches the YAML (1 model).\n"

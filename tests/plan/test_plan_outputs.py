"""`llmplan plan` and `llmplan show` against the real sandbox over HTTP:
what a reviewer reads (text, markdown), what CI reads (JSON, exit codes),
and the saved plan file."""

from __future__ import annotations

import json

import pytest

from planner.core.plan_file import document_checksum
from planner.core.validation import schema_violations
from planner.model import schemas
from tests.plan.e2e_project import ROUTER, SUMMARIZER, SUPPORT, THREE_MODELS, Admin, Project


@pytest.fixture
def applied(project: Project) -> Project:
    """Three models applied, then support-bot edited in YAML (not applied)."""
    project.write_models(THREE_MODELS)
    project.apply()
    project.edit_model("support-bot", "max_tokens: 2048", "max_tokens: 1024")
    project.edit_model("support-bot", "{filter_type: pii, action: redact, threshold: 85}", "{filter_type: pii, action: redact, threshold: 90}")
    project.edit_model("support-bot", "  - {filter_type: self_harm, action: block, threshold: 10}\n", "  - {filter_type: political, action: flag, threshold: 60}\n")
    return project


EXPECTED_UPDATE_TEXT = f"""\
Model actions are indicated with the following symbols:
  ~ update in place
Field lines read live → YAML.

llmplan will perform the following actions in environment dev:

  # support-bot ({SUPPORT}) will be updated in place (live version 1)
  ~ update support-bot
      ~ max_tokens: 2048 → 1024
      ~ safety_filters[pii].threshold: 85 → 90
      + safety_filters[political]: {{"action": "flag", "threshold": 60}}
      - safety_filters[self_harm]: {{"action": "block", "threshold": 10}}
      # (5 unchanged fields hidden)

Safety: this plan weakens 2 settings of 1 model:

  ! support-bot: safety_filters[pii].threshold: 85 → 90
      with a higher threshold the pii filter acts on less content (safety.threshold: lower is stricter)
  ! support-bot: safety_filters[self_harm]: {{"action": "block", "threshold": 10}} → (none)
      the self_harm filter is removed: nothing screens self_harm content any more

Plan: 0 to create, 1 to update, 0 to forget. 1 change weakens safety.
"""


def test_first_plan_creates_every_model_and_exit_codes_follow_terraform(project: Project) -> None:
    project.write_models(THREE_MODELS)
    plain = project.run("plan", "--env", "dev")
    assert plain.code == 0, plain  # changes, but no --detailed-exitcode
    assert "  + create intent-router\n" in plain.stdout
    assert "  + create summarizer\n" in plain.stdout
    assert "  + create support-bot\n" in plain.stdout
    assert "      + max_tokens: 2048\n" in plain.stdout
    assert '      + safety_filters[self_harm]: {"action": "block", "threshold": 10}\n' in plain.stdout
    # the environment default fills in what the file leaves out
    assert '      + compliance_mode: "standard"\n' in plain.stdout
    assert plain.stdout.endswith("Plan: 3 to create, 0 to update, 0 to forget.\n")
    assert project.run("plan", "--env", "dev", "--detailed-exitcode").code == 2

    project.apply()
    again = project.run("plan", "--env", "dev", "--detailed-exitcode")
    assert again.code == 0, again
    assert again.stdout == "No changes. The live configuration of environment dev matches the YAML (3 models).\n"


def test_text_shows_each_changed_field_old_to_new(applied: Project) -> None:
    done = applied.run("plan", "--env", "dev", "--detailed-exitcode")
    assert done.code == 2, done
    assert done.stdout == EXPECTED_UPDATE_TEXT
    assert "\x1b[" not in done.stdout


def test_markdown_has_the_summary_first_then_the_weakenings_a_table_and_details(applied: Project) -> None:
    done = applied.run("plan", "--env", "dev", "--format", "markdown")
    assert done.code == 0, done
    assert done.stdout == f"""\
### llmplan · `dev` · Plan: 0 to create, 1 to update, 0 to forget. 1 change weakens safety.

#### ⚠️ This plan weakens safety: 2 settings of 1 model

| model | field | live → YAML | why |
|---|---|---|---|
| `support-bot` | `safety_filters[pii].threshold` | `85 → 90` | with a higher threshold the pii filter acts on less content (safety.threshold: lower is stricter) |
| `support-bot` | `safety_filters[self_harm]` | `{{"action": "block", "threshold": 10}} → (none)` | the self_harm filter is removed: nothing screens self_harm content any more |

| | model | action | fields |
|---|---|---|---|
| ~ | `support-bot` | update | `max_tokens`, `safety_filters[pii].threshold`, `safety_filters[political]`, `safety_filters[self_harm]` |

<details><summary>Field-level changes (live → YAML)</summary>

```diff
@@ ~ update support-bot ({SUPPORT}) @@
-   max_tokens: 2048
+   max_tokens: 1024
-   safety_filters[pii].threshold: 85
+   safety_filters[pii].threshold: 90
+   safety_filters[political]: {{"action": "flag", "threshold": 60}}
-   safety_filters[self_harm]: {{"action": "block", "threshold": 10}}
```

</details>
"""


def test_json_follows_the_terraform_show_json_shape_and_the_plan_schema(applied: Project) -> None:
    code, document = applied.json("plan", "--env", "dev", "--detailed-exitcode")
    assert code == 2
    assert schema_violations(schemas.validator(schemas.PLAN), document) == []
    assert document["format_version"] == "1.2"
    assert list(document)[:8] == ["format_version", "terraform_version", "llmplan_version", "planned_values", "resource_drift", "resource_changes", "prior_state", "configuration"]
    assert document["applyable"] is True
    assert [entry["address"] for entry in document["resource_changes"]] == ["intent-router", "summarizer", "support-bot"]
    assert [entry["change"]["actions"] for entry in document["resource_changes"]] == [["no-op"], ["no-op"], ["update"]]
    support = document["resource_changes"][2]
    assert {key: support[key] for key in ("address", "mode", "type", "name", "model_id", "live_version", "file")} == {
        "address": "support-bot",
        "mode": "managed",
        "type": "llm_model_configuration",
        "name": "support-bot",
        "model_id": SUPPORT,
        "live_version": 1,
        "file": "environments/dev/models/support-bot.yaml",
    }
    before, after = support["change"]["before"], support["change"]["after"]
    assert (before["max_tokens"], after["max_tokens"]) == (2048, 1024)
    assert [f["filter_type"] for f in after["safety_filters"]] == ["pii", "political"]
    assert "version" not in after and "selfUri" not in before
    assert support["field_changes"] == [
        {"path": "max_tokens", "before": 2048, "after": 1024},
        {"path": "safety_filters[pii].threshold", "before": 85, "after": 90},
        {"path": "safety_filters[political]", "before": None, "after": {"action": "flag", "threshold": 60}},
        {"path": "safety_filters[self_harm]", "before": {"action": "block", "threshold": 10}, "after": None},
    ]
    assert document["resource_drift"] == []
    assert document["llmplan"]["environment"] == "dev"
    assert document["llmplan"]["state"]["serial"] >= 1
    assert document["llmplan"]["summary"] == {"create": 0, "update": 1, "forget": 0, "move": 0, "no_op": 2, "drifted": 0}
    assert document["llmplan"]["safety"] == {"max_change_percent": 100, "changed": 1, "total": 3, "change_percent": 33.33, "exceeded": False}


def test_json_has_terraforms_planned_values_prior_state_and_configuration(applied: Project) -> None:
    """What policy tools read: each model after apply, the state before, the files."""
    code, document = applied.json("plan", "--env", "dev")
    state = json.loads(applied.run("state", "show", "--env", "dev", "--format", "json").stdout)["state"]
    planned = document["planned_values"]["root_module"]["resources"]
    assert [entry["address"] for entry in planned] == ["intent-router", "summarizer", "support-bot"]
    support = planned[2]
    assert {key: value for key, value in support.items() if key != "values"} == {
        "address": "support-bot",
        "mode": "managed",
        "type": "llm_model_configuration",
        "name": "support-bot",
        "provider_name": "registry.terraform.io/llmplan/llm",
        "schema_version": 0,
        "sensitive_values": {},
    }
    # the YAML edit, as apply will send it
    assert support["values"] == document["resource_changes"][2]["change"]["after"]
    assert (support["values"]["max_tokens"], support["values"]["compliance_mode"]) == (1024, "strict")
    assert planned[1]["values"]["compliance_mode"] == "standard"  # the gateway's default, filled in

    prior = document["prior_state"]
    assert prior["format_version"] == "1.0"
    recorded = {entry["address"]: entry for entry in prior["values"]["root_module"]["resources"]}
    assert sorted(recorded) == sorted(state["resources"])
    assert recorded["support-bot"]["values"]["max_tokens"] == 2048  # as last applied, not as edited
    assert recorded["support-bot"]["version"] == state["resources"]["support-bot"]["version"]
    assert recorded["support-bot"]["type"] == "llm_model_configuration"

    configuration = document["configuration"]
    assert configuration["provider_config"] == {"llm": {"name": "llm", "full_name": "registry.terraform.io/llmplan/llm"}}
    files = {entry["address"]: entry for entry in configuration["root_module"]["resources"]}
    assert sorted(files) == ["intent-router", "summarizer", "support-bot"]
    assert files["support-bot"]["file"] == "environments/dev/models/support-bot.yaml"
    assert files["support-bot"]["provider_config_key"] == "llm"
    assert files["support-bot"]["expressions"]["max_tokens"] == {"constant_value": 1024}
    assert files["support-bot"]["expressions"]["safety_filters"]["constant_value"][1] == {"filter_type": "political", "action": "flag", "threshold": 60}


def test_a_targeted_plan_plans_only_its_targets_but_shows_every_file(applied: Project) -> None:
    code, document = applied.json("plan", "--env", "dev", "--target", "support-bot")
    assert [entry["address"] for entry in document["resource_changes"]] == ["support-bot"]
    assert [entry["address"] for entry in document["planned_values"]["root_module"]["resources"]] == ["support-bot"]
    assert [entry["address"] for entry in document["configuration"]["root_module"]["resources"]] == ["intent-router", "summarizer", "support-bot"]


def test_a_first_plan_has_no_prior_state_and_a_forget_leaves_planned_values(project: Project) -> None:
    project.write_models(THREE_MODELS)
    code, document = project.json("plan", "--env", "dev")
    assert "prior_state" not in document  # nothing recorded yet: Terraform leaves the section out too
    assert [entry["change"]["actions"] for entry in document["resource_changes"]] == [["create"]] * 3
    created = document["resource_changes"][0]["change"]
    assert (created["before"], created["before_sensitive"], created["after_unknown"], created["after_sensitive"]) == (None, False, {}, {})
    assert len(document["planned_values"]["root_module"]["resources"]) == 3

    project.apply()
    (project.models_dir / "intent-router.yaml").unlink()
    code, document = project.json("plan", "--env", "dev")
    assert [entry["address"] for entry in document["planned_values"]["root_module"]["resources"]] == ["summarizer", "support-bot"]
    assert [entry["address"] for entry in document["prior_state"]["values"]["root_module"]["resources"]] == ["intent-router", "summarizer", "support-bot"]
    assert [entry["address"] for entry in document["configuration"]["root_module"]["resources"]] == ["summarizer", "support-bot"]


@pytest.mark.parametrize("output_format", ["text", "markdown", "json"])
def test_show_renders_a_saved_plan_exactly_as_plan_printed_it(applied: Project, output_format: str) -> None:
    plan_file = applied.root / "plan.json"
    planned = applied.run("plan", "--env", "dev", "--format", output_format, "--out", str(plan_file))
    assert planned.code == 0, planned
    assert f"Saved the plan to {plan_file}" in planned.stderr
    shown = applied.run("show", str(plan_file), "--format", output_format, root=False)
    assert shown.code == 0, shown
    assert shown.stdout == planned.stdout
    if output_format == "json":  # the saved file is the JSON rendering itself
        assert plan_file.read_text(encoding="utf-8") == planned.stdout
    if output_format == "text":
        assert shown.stdout == EXPECTED_UPDATE_TEXT


def test_the_saved_plan_file_validates_and_carries_what_apply_needs(applied: Project) -> None:
    plan_file = applied.root / "plan.json"
    assert applied.run("plan", "--env", "dev", "--out", str(plan_file)).code == 0
    document = json.loads(plan_file.read_text(encoding="utf-8"))
    assert schema_violations(schemas.validator(schemas.PLAN), document) == []
    block = document["llmplan"]
    assert block["environment"] == "dev"
    assert block["checksum"].startswith("sha256:")
    assert block["state"]["lineage"] == json.loads(applied.run("state", "show", "--env", "dev", "--format", "json").stdout)["state"]["lineage"]
    assert document["llmplan_version"] and document["timestamp"]


def plan_file_variants(text: str) -> dict[str, tuple[str, str]]:
    """Broken versions of a saved plan and what the error must say."""
    document = json.loads(text)
    edited = json.loads(text)
    edited["resource_changes"][2]["change"]["after"]["max_tokens"] = 4096  # a reviewer's plan, quietly changed
    future = json.loads(text)
    future["format_version"] = "2.0"
    no_block = json.loads(text)
    del no_block["llmplan"]
    assert '"max_tokens":1024' in text  # the NaN variant below has a number to replace
    # what a policy gate judges, made to differ from what apply sends, the checksum made to match
    two_faced = json.loads(text)
    two_faced["planned_values"]["root_module"]["resources"][2]["values"]["max_tokens"] = 512
    two_faced["llmplan"]["checksum"] = document_checksum(two_faced)
    doubled = json.loads(text)
    doubled["planned_values"]["root_module"]["resources"].append(doubled["planned_values"]["root_module"]["resources"][0])
    doubled["llmplan"]["checksum"] = document_checksum(doubled)
    unjudged = json.loads(text)
    del unjudged["planned_values"]
    unjudged["llmplan"]["checksum"] = document_checksum(unjudged)
    return {
        "planned-values-differ": (json.dumps(two_faced), "planned_values and resource_changes disagree on support-bot"),
        "planned-values-repeat": (json.dumps(doubled), "planned_values and resource_changes disagree on intent-router"),
        "no-planned-values": (json.dumps(unjudged), "is not a valid llmplan plan: (root): missing required field 'planned_values'"),
        "tampered": (json.dumps(edited, indent=2), "was modified after it was written (checksum mismatch)"),
        "truncated": (text[: len(text) // 2], "is not valid JSON (truncated or not a plan?)"),
        "empty": ("", "is not valid JSON"),
        "foreign-json": (json.dumps({"format_version": "1.0", "planned_values": {}, "resource_changes": []}), "is not a valid llmplan plan"),
        "future-format": (json.dumps(future), "has format_version '2.0'; this llmplan reads 1.2"),
        "no-llmplan-block": (json.dumps(no_block), "is not a valid llmplan plan"),
        "json-array": (json.dumps([document]), "is not a llmplan plan (expected a JSON object)"),
        "nan": (text.replace('"max_tokens":1024', '"max_tokens":NaN', 1), "is not a llmplan plan: it holds NaN"),
        "deeply-nested": ("[" * 100_000 + "]" * 100_000, "is not a llmplan plan: maximum recursion depth exceeded"),
        "not-utf-8": ("\udcff", "cannot read plan file"),
    }


def test_a_broken_plan_file_is_refused_clearly(applied: Project) -> None:
    plan_file = applied.root / "plan.json"
    assert applied.run("plan", "--env", "dev", "--out", str(plan_file)).code == 0
    original = plan_file.read_text(encoding="utf-8")
    for name, (text, message) in plan_file_variants(original).items():
        broken = applied.root / f"{name}.json"
        broken.write_bytes(text.encode("utf-8", "surrogateescape"))
        for args in (("show", str(broken)), ("apply", str(broken), "--auto-approve")):
            done = applied.run(*args, root=args[0] == "apply")
            assert done.code == 1, (name, str(done))
            assert message in done.stderr, (name, str(done))
            assert done.stderr.startswith("Error: "), (name, str(done))
            assert "Traceback" not in done.stderr and done.stdout == "", (name, str(done))
    missing = applied.run("show", str(applied.root / "nope.json"), root=False)
    assert missing.code == 1 and "does not exist" in missing.stderr, missing
    # the good file still shows
    assert applied.run("show", str(plan_file), root=False).stdout == EXPECTED_UPDATE_TEXT


def test_target_plans_only_the_named_addresses(applied: Project) -> None:
    applied.edit_model("summarizer", "max_tokens: 4096", "max_tokens: 3000")
    both = applied.run("plan", "--env", "dev")
    assert "~ update summarizer" in both.stdout and "~ update support-bot" in both.stdout
    one = applied.run("plan", "--env", "dev", "--target", "summarizer", "--detailed-exitcode")
    assert one.code == 2, one
    assert "~ update summarizer" in one.stdout and "support-bot" not in one.stdout
    assert one.stdout.startswith("Warning: resource targeting is in effect: this plan covers only summarizer; other changes may be missing.")
    assert one.stdout.endswith("Plan: 0 to create, 1 to update, 0 to forget.\n")
    code, document = applied.json("plan", "--env", "dev", "--target", "summarizer")
    assert [entry["address"] for entry in document["resource_changes"]] == ["summarizer"]
    assert document["llmplan"]["targets"] == ["summarizer"]


def test_an_unknown_target_is_an_error_listing_the_addresses(project: Project) -> None:
    project.write_models(THREE_MODELS)
    done = project.run("plan", "--env", "dev", "--target", "support-bto")
    assert done.code == 1, done
    assert "support-bto" in done.stderr
    assert "intent-router, summarizer, support-bot" in done.stderr
    assert done.stdout == ""


def test_a_removed_file_is_forgotten_and_its_live_configuration_left_alone(project: Project, admin: Admin) -> None:
    project.write_models(THREE_MODELS)
    project.apply()
    (project.models_dir / "intent-router.yaml").unlink()
    done = project.run("plan", "--env", "dev", "--detailed-exitcode")
    assert done.code == 2, done
    assert done.stdout == (
        "Model actions are indicated with the following symbols:\n"
        "  - forget (dropped from state; the live configuration is left alone)\n"
        "Field lines read live → YAML.\n\n"
        "llmplan will perform the following actions in environment dev:\n\n"
        f"  # intent-router ({ROUTER}) will be dropped from state; its live configuration is left alone\n"
        "  - forget intent-router\n\n"
        "Plan: 0 to create, 0 to update, 1 to forget.\n"
    )
    live_before = admin.configuration(ROUTER)
    admin.clear_requests()
    project.apply()
    assert [entry for entry in admin.requests() if entry["method"] == "PUT"] == []
    assert admin.configuration(ROUTER) == live_before
    state = json.loads(project.run("state", "show", "--env", "dev", "--format", "json").stdout)["state"]
    assert sorted(state["resources"]) == ["summarizer", "support-bot"]
    assert project.run("plan", "--env", "dev", "--detailed-exitcode").code == 0


def test_a_removed_files_address_is_a_valid_target(project: Project) -> None:
    project.write_models(THREE_MODELS)
    project.apply()
    (project.models_dir / "intent-router.yaml").unlink()
    project.edit_model("summarizer", "max_tokens: 4096", "max_tokens: 3000")
    done = project.run("plan", "--env", "dev", "--target", "intent-router")
    assert done.code == 0, done
    assert "  - forget intent-router\n" in done.stdout and "summarizer" not in done.stdout
    typo = project.run("plan", "--env", "dev", "--target", "intent-ruoter")
    assert typo.code == 1, typo
    assert "(addresses: intent-router, summarizer, support-bot)" in typo.stderr


def test_the_safety_limit_is_announced_up_front(project: Project) -> None:
    project.write_environment(max_change_percent=50)
    project.write_models(THREE_MODELS)
    done = project.run("plan", "--env", "dev")
    assert done.code == 0, done
    assert done.stdout.startswith(
        "Warning: 3 of 3 models would change (100 %), over the 50 % limit of this environment; review the plan and re-run with --force.\n\n"
    )
    code, document = project.json("plan", "--env", "dev")
    assert document["llmplan"]["safety"] == {"max_change_percent": 50, "changed": 3, "total": 3, "change_percent": 100, "exceeded": True}
    assert SUMMARIZER in {entry["model_id"] for entry in document["resource_changes"]}


def test_out_where_no_file_can_be_written_is_a_clear_error(project: Project) -> None:
    project.write_models(THREE_MODELS)
    (project.root / "a-file").write_text("not a folder\n", encoding="utf-8")
    done = project.run("plan", "--env", "dev", "--out", str(project.root / "a-file" / "plan.json"))
    assert done.code == 1, done
    assert done.stderr.startswith("Error: cannot write the plan file ") and "a-file/plan.json" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def as_format_1_0(document: dict) -> dict:
    """The same plan as llmplan wrote it before Terraform's sections (format 1.0)."""
    old = {key: value for key, value in document.items() if key not in ("planned_values", "prior_state", "configuration")}
    old["format_version"] = "1.0"
    for entry in (*old["resource_changes"], *old["resource_drift"]):
        entry["provider_name"] = "llmplan/genesys-cloud-llm-gateway"
        entry["change"] = {key: entry["change"][key] for key in ("actions", "before", "after")}
    old["llmplan"]["checksum"] = document_checksum(old)
    return old


def test_a_plan_saved_in_format_1_0_is_still_applied_exactly(applied: Project, admin: Admin) -> None:
    plan_file = applied.root / "plan.json"
    assert applied.run("plan", "--env", "dev", "--out", str(plan_file)).code == 0
    old = as_format_1_0(json.loads(plan_file.read_text(encoding="utf-8")))
    plan_file.write_text(json.dumps(old, indent=2), encoding="utf-8")
    assert applied.run("show", str(plan_file), root=False).stdout == EXPECTED_UPDATE_TEXT
    done = applied.run("apply", str(plan_file), "--auto-approve", "--allow-weakening")  # the fixture's change drops a filter
    assert done.code == 0, done
    assert admin.configuration(SUPPORT)["max_tokens"] == 1024
    last = [entry for entry in applied.audit() if entry["address"] == "support-bot" and entry["status"] == "success"][-1]
    assert last["plan_checksum"] == old["llmplan"]["checksum"]
    assert applied.run("plan", "--env", "dev", "--detailed-exitcode").code == 0

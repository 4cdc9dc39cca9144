"""`llmplan refresh` (accept a reviewed change made outside llmplan) and
`llmplan import` (adopt models configured by hand), against the real sandbox."""

from __future__ import annotations

import json

import pytest

from tests.plan.e2e_project import HEADER, SUPPORT, THREE_MODELS, TRANSLATOR, Admin, Project, model_config

# models someone configured by hand on the gateway; none is in the YAML
EU = "11111111-1111-4111-8111-111111111111"
EU_TWIN = "22222222-2222-4222-8222-222222222222"
TRANSLATOR_BOT = "33333333-3333-4333-8333-333333333333"
NEVER = "44444444-4444-4444-8444-444444444444"
CAPABILITIES = {"max_context_window": 8192, "restricted_safety_filters": []}

TRANSLATOR_YAML = f"""{HEADER}model_id: {TRANSLATOR}
temperature_matrix: {{default: 0.3, creative: 0.8, precise: 0.1}}
safety_filters:
  - {{filter_type: pii, action: redact, threshold: 80}}
max_tokens: 6000
compliance_mode: permissive
"""


@pytest.fixture
def applied(project: Project) -> Project:
    project.write_models(THREE_MODELS)
    project.apply()
    return project


# --- refresh -------------------------------------------------------------------------


def test_refresh_accepts_a_reviewed_change_made_outside_llmplan(applied: Project, admin: Admin) -> None:
    admin.patch(SUPPORT, max_tokens=1024)
    applied.edit_model("support-bot", "max_tokens: 2048", "max_tokens: 1024")  # the YAML now says what live says
    code, before = applied.json("plan", "--env", "dev", "--detailed-exitcode")
    assert code == 0  # nothing to change...
    assert [entry["address"] for entry in before["resource_drift"]] == ["support-bot"]  # ...but live moved behind llmplan's back

    done = applied.run("refresh", "--env", "dev")
    assert done.code == 0, done
    assert done.stdout == "  recorded support-bot (version 2)\nRefresh complete: 1 model(s) recorded in state.\n"

    code, after = applied.json("plan", "--env", "dev", "--detailed-exitcode")
    assert code == 0
    assert after["resource_drift"] == []
    assert applied.run("drift", "--env", "dev").code == 0
    state = json.loads(applied.run("state", "show", "--env", "dev", "--format", "json").stdout)["state"]
    assert state["resources"]["support-bot"]["version"] == 2
    assert state["resources"]["support-bot"]["configuration"]["max_tokens"] == 1024
    refreshes = [entry for entry in applied.audit() if entry["action"] == "state_refresh"]
    assert [(entry["address"], entry["model_id"], entry["status"]) for entry in refreshes] == [("support-bot", SUPPORT, "success")]
    verified = applied.run("audit", "verify", "--env", "dev")
    assert verified.code == 0, verified

    again = applied.run("refresh", "--env", "dev")
    assert again.stdout == "State already matches the live configuration.\n"
    assert len([entry for entry in applied.audit() if entry["action"] == "state_refresh"]) == 1


def test_refresh_without_the_yaml_edit_leaves_the_yaml_change_to_apply(applied: Project, admin: Admin) -> None:
    admin.patch(SUPPORT, max_tokens=1024)
    assert applied.run("refresh", "--env", "dev").code == 0
    code, document = applied.json("drift", "--env", "dev")
    assert code == 2
    # state now matches live, so it is the YAML that differs: not applied
    assert [(e["address"], e["drift_kind"]) for e in document["resource_drift"]] == [("support-bot", "not_applied")]
    assert admin.configuration(SUPPORT)["max_tokens"] == 1024  # refresh changed nothing on the gateway


# --- import --------------------------------------------------------------------------


@pytest.fixture
def hand_configured(applied: Project, admin: Admin) -> Project:
    """translator-bot.yaml manages the catalog translator; four models were
    set up by hand on the gateway, three of them configured."""
    applied.write_model("translator-bot", TRANSLATOR_YAML)
    applied.apply()
    admin.add_models(
        {"id": EU, "name": "Claude Support (EU)", "capabilities": CAPABILITIES, "configuration": model_config(EU, temperature_matrix={"default": 1.0, "creative": 1.5, "precise": 1e-05})},
        {"id": EU_TWIN, "name": "claude support eu", "capabilities": CAPABILITIES, "configuration": model_config(EU_TWIN, max_tokens=300)},
        {"id": TRANSLATOR_BOT, "name": "Translator Bot", "capabilities": CAPABILITIES, "configuration": model_config(TRANSLATOR_BOT.upper(), compliance_mode="strict")},
        {"id": NEVER, "name": "Never Configured", "capabilities": CAPABILITIES},
    )
    return applied


def snapshot(project: Project) -> dict[str, bytes]:
    """The model files and the records; not the fencing token, which every holding of the lock moves on."""
    files = [*project.models_dir.iterdir(), *project.state_dir.iterdir()]
    return {path.name: path.read_bytes() for path in files if path.is_file() and path.name != "fence"}


def test_import_without_flags_lists_candidates_and_writes_nothing(hand_configured: Project) -> None:
    before = snapshot(hand_configured)
    done = hand_configured.run("import", "--env", "dev")
    assert done.code == 0, done
    assert done.stdout == (
        "3 configured model(s) on the gateway are in no YAML file of dev:\n"
        f"  {EU}  Claude Support (EU) (version 1)\n"
        f"  {EU_TWIN}  claude support eu (version 1)\n"
        f"  {TRANSLATOR_BOT}  Translator Bot (version 1)\n"
        "Import them with --model-id ID (repeatable) or --all.\n"
    )
    assert snapshot(hand_configured) == before


def test_imported_models_plan_clean_and_look_like_the_examples(hand_configured: Project) -> None:
    existing = (hand_configured.models_dir / "translator-bot.yaml").read_bytes()
    done = hand_configured.run("import", "--env", "dev", "--model-id", EU, "--model-id", EU_TWIN.upper(), "--model-id", TRANSLATOR_BOT)
    assert done.code == 0, done
    assert done.stdout == (
        f"  imported Claude Support (EU) ({EU}) → environments/dev/models/claude-support-eu.yaml\n"
        f"  imported claude support eu ({EU_TWIN}) → environments/dev/models/claude-support-eu-2.yaml\n"
        f"  imported Translator Bot ({TRANSLATOR_BOT}) → environments/dev/models/translator-bot-2.yaml\n"
        "Import complete: 3 model(s) written and recorded in state.\n"
    )
    # the file that had the name is untouched; the import took -2
    assert (hand_configured.models_dir / "translator-bot.yaml").read_bytes() == existing
    assert (hand_configured.models_dir / "claude-support-eu.yaml").read_text(encoding="utf-8") == (
        HEADER
        + f"model_id: {EU}\n"
        + "temperature_matrix: {default: 1.0, creative: 1.5, precise: 1.0e-05}\n"
        + "safety_filters:\n"
        + "  - {filter_type: pii, action: redact, threshold: 70}\n"
        + "max_tokens: 1024\n"
        + "compliance_mode: standard\n"
    )
    assert (hand_configured.models_dir / "translator-bot-2.yaml").read_text(encoding="utf-8").startswith(HEADER + f"model_id: {TRANSLATOR_BOT}\n")

    validated = hand_configured.run("validate", "--env", "dev")
    assert validated.code == 0, validated
    assert validated.stdout == "7 models valid in environment dev\n"
    planned = hand_configured.run("plan", "--env", "dev", "--detailed-exitcode")
    assert planned.code == 0, planned
    assert planned.stdout == "No changes. The live configuration of environment dev matches the YAML (7 models).\n"
    drift = hand_configured.run("drift", "--env", "dev")
    assert drift.code == 0, drift
    assert "Unmanaged" not in drift.stdout

    state = json.loads(hand_configured.run("state", "show", "--env", "dev", "--format", "json").stdout)["state"]
    assert {address: state["resources"][address]["model_id"] for address in ("claude-support-eu", "claude-support-eu-2", "translator-bot-2")} == {
        "claude-support-eu": EU,
        "claude-support-eu-2": EU_TWIN,
        "translator-bot-2": TRANSLATOR_BOT,
    }
    imports = [entry["address"] for entry in hand_configured.audit() if entry["action"] == "state_import"]
    assert sorted(imports) == ["claude-support-eu", "claude-support-eu-2", "translator-bot-2"]
    assert hand_configured.run("audit", "verify", "--env", "dev").code == 0
    # nothing left to adopt
    assert hand_configured.run("import", "--env", "dev").stdout == "Nothing to import: every configured model on the gateway is managed by environment dev.\n"


def test_import_all(hand_configured: Project) -> None:
    done = hand_configured.run("import", "--env", "dev", "--all")
    assert done.code == 0, done
    assert done.stdout.endswith("Import complete: 3 model(s) written and recorded in state.\n")
    assert hand_configured.run("plan", "--env", "dev", "--detailed-exitcode").code == 0


IMPORT_ERRORS = [
    # a model a YAML file already manages
    pytest.param(["--model-id", SUPPORT], f"model {SUPPORT} is already managed by environments/dev/models/support-bot.yaml", id="managed"),
    # a valid id the gateway does not know
    pytest.param(["--model-id", "55555555-5555-4555-8555-555555555555"], "model 55555555-5555-4555-8555-555555555555 does not exist on the gateway", id="unknown"),
    # a model that exists but was never configured: nothing to adopt
    pytest.param(["--model-id", NEVER], f"model {NEVER} was never configured on the gateway; there is nothing to import", id="never-configured"),
    # not a model id at all
    pytest.param(["--model-id", "../../etc/passwd"], "is not a UUID", id="not-a-uuid"),
    # a good id beside a bad one: all or nothing
    pytest.param(["--model-id", EU, "--model-id", SUPPORT], "is already managed by", id="one-good-one-managed"),
    # --all and --model-id together
    pytest.param(["--all", "--model-id", EU], "pass --model-id or --all, not both", id="all-and-model-id"),
]


@pytest.mark.parametrize("args,message", IMPORT_ERRORS)
def test_import_errors_are_clear_and_change_nothing(hand_configured: Project, args: list[str], message: str) -> None:
    before = snapshot(hand_configured)
    done = hand_configured.run("import", "--env", "dev", *args)
    assert done.code == 1, done
    assert message in done.stderr, done
    assert "Traceback" not in done.stderr
    assert snapshot(hand_configured) == before


def test_import_never_reuses_the_address_of_a_pending_forget(applied: Project, admin: Admin) -> None:
    (applied.models_dir / "support-bot.yaml").unlink()  # support-bot is still in state: the next apply forgets it
    admin.add_models({"id": EU, "name": "Support Bot", "capabilities": CAPABILITIES, "configuration": model_config(EU)})
    done = applied.run("import", "--env", "dev", "--model-id", EU)
    assert done.code == 0, done
    assert "→ environments/dev/models/support-bot-2.yaml" in done.stdout
    code, document = applied.json("plan", "--env", "dev", "--detailed-exitcode")
    assert code == 2
    actions = {entry["address"]: entry["change"]["actions"] for entry in document["resource_changes"]}
    assert actions == {"intent-router": ["no-op"], "summarizer": ["no-op"], "support-bot": ["forget"], "support-bot-2": ["no-op"]}
    assert next(e for e in document["resource_changes"] if e["address"] == "support-bot")["model_id"] == SUPPORT

"""Text llmplan did not write (file names, YAML keys and values, what the gateway
answers, hand-edited records) reaches the terminal escaped, never obeyed; and a
hidden model file is reported, not silently skipped. Through the real CLI."""

from __future__ import annotations

import json
import re

import pytest

from tests.plan.e2e_project import SUPPORT_BOT, THREE_MODELS, TRANSLATOR, Admin, Project, model_config

# any C0 control but newline, DEL, C1, bidi controls, line/paragraph separators
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
TITLE_AND_CLEAR = "\x1b[2J\x1b]0;pwned\x07"


def assert_printable(*outputs: str) -> None:
    for output in outputs:
        assert RAW_CONTROL.search(output) is None, repr(output)


def test_a_hidden_model_file_is_a_warning_not_a_silence(project: Project) -> None:
    project.write_models(THREE_MODELS)
    (project.models_dir / ".translator.yaml").write_text(SUPPORT_BOT.replace("a1b2c3d4", "e5f6a7b8"), encoding="utf-8")
    (project.models_dir / ".gitkeep").write_text("", encoding="utf-8")  # not a model file: nothing to say
    expected = "Warning: environments/dev/models/.translator.yaml: hidden file, not read: a model file whose name starts with '.' configures nothing"

    checked = project.run("validate", "--env", "dev")
    assert checked.code == 0, str(checked)
    assert checked.stderr.startswith(expected) and checked.stderr.count("Warning") == 1
    assert checked.stdout == "3 models valid in environment dev\n"
    document = json.loads(project.run("validate", "--env", "dev", "--format", "json").stdout)
    assert [w["file"] for w in document["warnings"]] == ["environments/dev/models/.translator.yaml"]

    planned = project.run("plan", "--env", "dev")
    assert planned.code == 0, str(planned)
    assert planned.stderr.startswith(expected)
    assert "Plan: 3 to create" in planned.stdout  # the hidden file planned nothing


@pytest.mark.parametrize("output_format", ["text", "json", "markdown"])
def test_a_file_name_with_escape_sequences_is_shown_escaped(project: Project, output_format: str) -> None:
    project.write_models(THREE_MODELS)
    project.write_model(f"bot{TITLE_AND_CLEAR}", SUPPORT_BOT)
    command = ["validate"] if output_format != "markdown" else ["plan"]
    run = project.run(*command, "--env", "dev", "--format", output_format)
    assert run.code == 1
    assert_printable(run.stdout, run.stderr)
    assert "environments/dev/models/bot\\u001b[2J\\u001b]0;pwned\\u0007.yaml: file name 'bot\\u001b[2J\\u001b]0;pwned\\u0007' is not a valid address" in run.stderr
    if output_format == "json":
        assert json.loads(run.stdout)["problems"][0]["file"] == f"environments/dev/models/bot{TITLE_AND_CLEAR}.yaml"  # data stays exact
    if output_format == "markdown":
        assert "| `environments/dev/models/bot\\u001b[2J\\u001b]0;pwned\\u0007.yaml` |" in run.stdout


def test_a_newline_in_a_file_name_cannot_fake_a_line(project: Project) -> None:
    project.write_models(THREE_MODELS)
    project.write_model("x\nHint: nothing is wrong, ignore the line above", SUPPORT_BOT)
    run = project.run("validate", "--env", "dev")
    assert run.code == 1
    assert run.stderr.splitlines() == [
        "Error: environment dev is not valid: 1 problem",
        "  environments/dev/models/x\\nHint: nothing is wrong, ignore the line above.yaml: file name "
        "'x\\nHint: nothing is wrong, ignore the line above' is not a valid address: "
        "use lowercase letters, digits, '-' and '_', starting with a letter or digit",
    ]


def test_control_characters_in_yaml_keys_and_values_are_escaped(project: Project) -> None:
    project.write_models(THREE_MODELS)
    project.write_model("support-bot", SUPPORT_BOT.replace("compliance_mode: strict", '"\\x9b31mmode\\u202e": "strict\\e[8m"\ncompliance_mode: "strict\\u202e\\x7f"'))
    run = project.run("validate", "--env", "dev")
    assert run.code == 1
    assert_printable(run.stdout, run.stderr)
    assert "unknown field" in run.stderr and "\\u009b31mmode\\u202e" in run.stderr
    assert "strict\\u202e\\u007f" in run.stderr


def test_what_the_gateway_says_is_shown_escaped(project: Project, admin: Admin) -> None:
    project.write_models(THREE_MODELS)
    project.apply()
    name = f"gemini{TITLE_AND_CLEAR}\u202etranslate"
    admin.add_models({"id": TRANSLATOR, "name": name, "capabilities": {"max_context_window": 6144, "restricted_safety_filters": []}, "configuration": model_config(TRANSLATOR)})
    for output_format in ("text", "markdown"):
        run = project.run("drift", "--env", "dev", "--format", output_format)
        assert run.code == 0, str(run)  # an unmanaged model is no drift
        assert_printable(run.stdout, run.stderr)
        assert "gemini\\u001b[2J\\u001b]0;pwned\\u0007\\u202etranslate" in run.stdout
    as_json = project.run("drift", "--env", "dev", "--format", "json")
    assert json.loads(as_json.stdout)["unmanaged"][0]["name"] == name  # JSON carries the data exactly


def test_a_hand_edited_record_is_shown_escaped(project: Project) -> None:
    project.write_models(THREE_MODELS)
    project.apply()
    trail = project.state_dir / "audit.jsonl"
    trail.write_text(trail.read_text(encoding="utf-8").replace('"address":"intent-router"', f'"address":{json.dumps("router" + TITLE_AND_CLEAR)}', 1), encoding="utf-8")
    run = project.run("audit", "show", "--env", "dev")
    assert_printable(run.stdout, run.stderr)
    assert "router\\u001b[2J\\u001b]0;pwned\\u0007" in run.stdout

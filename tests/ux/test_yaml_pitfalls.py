"""The YAML pitfalls a user meets, explained with file, line and column:
a tab used for indentation, a YAML 1.1 boolean (yes/no/on/off) or an
unquoted number where text is expected, such a value as a key.

Offline: `llmplan validate` on real files, as a user runs it.
"""

from __future__ import annotations

import json

import pytest

from tests.plan.e2e_project import HEADER, SUPPORT, Project

FILTERS = "safety_filters:\n  - {filter_type: pii, action: redact, threshold: 85}\n"


def model(**lines: str) -> str:
    fields = {
        "model_id": SUPPORT,
        "temperature_matrix": "{default: 0.7, creative: 1.2, precise: 0.3}",
        "max_tokens": "2048",
        "compliance_mode": "strict",
        **lines,
    }
    body = "".join(f"{key}: {value}\n" for key, value in fields.items() if key != "safety_filters")
    return HEADER + body + lines.get("safety_filters", FILTERS)


CASES = [
    # (why, model file text, expected problem line of `validate`)
    pytest.param(
        HEADER + f"model_id: {SUPPORT}\ntemperature_matrix:\n\tdefault: 0.7\n",
        "environments/dev/models/bot.yaml:4:1: a tab is used for indentation here; YAML indents with spaces only (replace the tab with spaces)",
        id="tab-indenting-a-mapping",
    ),
    pytest.param(
        HEADER + f"model_id: {SUPPORT}\nsafety_filters:\n  \t- {{filter_type: pii}}\n",
        "environments/dev/models/bot.yaml:4:3: a tab is used for indentation here; YAML indents with spaces only (replace the tab with spaces)",
        id="tab-after-spaces",
    ),
    pytest.param(
        model(compliance_mode="yes"),
        "environments/dev/models/bot.yaml:5:18 compliance_mode: true is not one of: strict, standard, permissive; "
        'YAML 1.1 reads the unquoted word yes as the boolean true (as it does yes, no, on and off); put it in quotes ("yes") if you meant the word',
        id="yes-where-a-word-is-expected",
    ),
    pytest.param(
        model(safety_filters="safety_filters:\n  - {filter_type: pii, action: off, threshold: 85}\n"),
        "environments/dev/models/bot.yaml:7:32 safety_filters[0].action: false is not one of: block, redact, flag; "
        'YAML 1.1 reads the unquoted word off as the boolean false (as it does yes, no, on and off); put it in quotes ("off") if you meant the word',
        id="off-inside-a-flow-mapping",
    ),
    pytest.param(
        model(model_id="12345678"),
        'environments/dev/models/bot.yaml:2:11 model_id: 12345678 is not a string; YAML reads the unquoted 12345678 as a number; put it in quotes ("12345678") if you meant text',
        id="a-number-where-text-is-expected",
    ),
    pytest.param(
        model(model_id="0x1F"),
        'environments/dev/models/bot.yaml:2:11 model_id: 31 is not a string; YAML reads the unquoted 0x1F as the number 31; put it in quotes ("0x1F") if you meant text',
        id="a-hex-number-read-otherwise-than-written",
    ),
    pytest.param(
        model() + "on: true\n",
        "environments/dev/models/bot.yaml:8:1: keys must be text, got 'on': YAML reads the unquoted key on as a boolean; put it in quotes (\"on\") if you meant text",
        id="a-boolean-word-as-a-key",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_validate_explains_what_yaml_read_with_line_and_column(project: Project, text: str, expected: str) -> None:
    project.write_model("bot", text)
    done = project.run("validate", "--env", "dev")
    assert done.code == 1, done
    assert f"  {expected}\n" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_json_diagnostics_carry_the_column(project: Project) -> None:
    project.write_model("bot", model(compliance_mode="on"))
    done = project.run("validate", "--env", "dev", "--format", "json")
    assert done.code == 1, done
    document = json.loads(done.stdout)
    (problem,) = document["problems"]
    assert (problem["file"], problem["line"], problem["column"], problem["path"]) == ("environments/dev/models/bot.yaml", 5, 18, "compliance_mode")
    (diagnostic,) = document["diagnostics"]
    assert (diagnostic["line"], diagnostic["column"]) == (5, 18)
    assert "reads the unquoted word on as the boolean true" in diagnostic["summary"]


def test_a_value_inherited_from_defaults_is_explained_where_it_is_written(project: Project) -> None:
    (project.env_dir / "environment.yaml").write_text(f"gateway:\n  base_url: {project.gateway_url}\ndefaults:\n  compliance_mode: no\n", encoding="utf-8")
    project.write_model("bot", model().replace("compliance_mode: strict\n", ""))
    done = project.run("validate", "--env", "dev")
    assert done.code == 1, done
    assert (
        "  environments/dev/environment.yaml:4:20 defaults.compliance_mode: false is not one of: strict, standard, permissive; "
        "YAML 1.1 reads the unquoted word no as the boolean false" in done.stderr
    ), done.stderr
    assert "bot.yaml" not in done.stderr  # reported once, where it is written


def test_quoted_and_well_typed_values_need_no_explanation(project: Project) -> None:
    project.write_model("bot", model(compliance_mode='"standard"', max_tokens="1024"))
    assert project.run("validate", "--env", "dev").code == 0
    project.write_model("bot", model(compliance_mode='"yes"'))
    done = project.run("validate", "--env", "dev")
    assert done.code == 1 and '"yes" is not one of: strict, standard, permissive\n' in done.stderr
    assert "YAML 1.1" not in done.stderr  # quoted: YAML read it as the text it is

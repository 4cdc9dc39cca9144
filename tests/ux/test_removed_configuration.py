"""A configuration removed on the gateway is named as such, with the version
llmplan last applied, in plan, drift and apply; and no Python literal
(None, True, False) or repr reaches anything llmplan prints.

Real CLI, real sandbox over HTTP.
"""

from __future__ import annotations

import re

from tests.plan.e2e_project import ROUTER, SUPPORT, THREE_MODELS, Admin, Project
from tests.ux.ux_helpers import remove_configuration

PYTHON_LITERALS = re.compile(r"\b(None|True|False)\b|<[a-zA-Z_.]+ object at 0x|\w+\(\w+=")


def assert_no_python_literals(*texts: str) -> None:
    for text in texts:
        found = PYTHON_LITERALS.search(text)
        assert found is None, f"{found.group(0)!r} in:\n{text}"


def test_plan_drift_and_apply_name_a_removed_configuration_with_the_state_version(project: Project, admin: Admin) -> None:
    project.write_models(THREE_MODELS)
    project.apply()
    admin.patch(SUPPORT, max_tokens=1000)
    project.run("refresh", "--env", "dev")  # state now records version 2
    project.apply()  # the YAML's 2048 back: version 3 recorded
    remove_configuration(admin, SUPPORT)

    plan = project.run("plan", "--env", "dev")
    assert plan.code == 0, plan
    assert "  ~ support-bot (configuration removed on the gateway (llmplan applied version 3 at " in plan.stdout
    assert f"  # support-bot ({SUPPORT}) was removed on the gateway (llmplan last applied version 3) and will be configured again\n  + create support-bot\n" in plan.stdout
    assert "for the first time" not in plan.stdout
    code, document = project.json("plan", "--env", "dev")
    (entry,) = [e for e in document["resource_changes"] if e["address"] == "support-bot"]
    assert (entry["change"]["actions"], entry["state_version"], entry["live_version"]) == (["create"], 3, None)
    markdown = project.run("plan", "--env", "dev", "--format", "markdown").stdout
    assert "| + | `support-bot` | create (removed on the gateway; llmplan last applied version 3) | — |" in markdown

    drift = project.run("drift", "--env", "dev")
    assert drift.code == 2, drift
    assert f"  ~ support-bot ({SUPPORT}): configuration removed on the gateway outside llmplan (last applied " in drift.stdout
    assert " as version 3, removed on the gateway)\n" in drift.stdout
    assert "never configured" not in drift.stdout
    code, report = project.json("drift", "--env", "dev")
    assert [(e["address"], e["drift_kind"], e["state_version"]) for e in report["resource_drift"]] == [("support-bot", "removed", 3)]

    apply = project.run("apply", "--env", "dev", "--auto-approve")
    assert apply.code == 0, apply
    assert "was removed on the gateway (llmplan last applied version 3) and will be configured again" in apply.stdout
    assert "metrics: 1 request (1 create, 0 updates)" in apply.stdout
    assert admin.configuration(SUPPORT)["max_tokens"] == 2048
    assert_no_python_literals(plan.stdout, plan.stderr, drift.stdout, drift.stderr, markdown, apply.stdout, apply.stderr)


def test_no_python_literal_reaches_any_output(project: Project, admin: Admin) -> None:
    """Every command a user runs, in every format, in the situations that
    carry "nothing" (never configured, removed, no state, no lock, failures)."""
    outputs: list[str] = []

    def run(*args: str, root: bool = True) -> None:
        done = project.run(*args, root=root)
        outputs.extend((done.stdout, done.stderr))

    project.write_models(THREE_MODELS)
    for output_format in ("text", "markdown", "json"):
        run("plan", "--env", "dev", "--format", output_format)  # never configured: live is nothing
        run("drift", "--env", "dev", "--format", output_format)
    run("state", "show", "--env", "dev")
    run("state", "list", "--env", "dev")
    run("audit", "show", "--env", "dev")
    run("validate", "--env", "dev")
    plan_file = project.root / "plan.json"
    run("plan", "--env", "dev", "--out", str(plan_file))
    run("show", str(plan_file), root=False)
    run("apply", str(plan_file), "--auto-approve")
    remove_configuration(admin, ROUTER)
    admin.patch(SUPPORT, max_tokens=1000)
    for output_format in ("text", "markdown"):
        run("plan", "--env", "dev", "--format", output_format)
        run("drift", "--env", "dev", "--format", output_format)
    run("refresh", "--env", "dev")
    run("state", "show", "--env", "dev")
    run("audit", "show", "--env", "dev")
    run("apply", "--env", "dev", "--auto-approve")
    run("import", "--env", "dev")
    run("version")
    run("fmt", "--check")
    run("state", "rm", "--env", "dev", "nope")
    assert_no_python_literals(*outputs)
    # the JSON outputs hold null, true and false as JSON does; the text around them never Python's words
    assert any("null" in text for text in outputs)

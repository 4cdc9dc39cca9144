"""`llmplan plan` against what the gateway really has: changes made outside
llmplan, models it does not know, live capabilities, how it fetches, and
colors only for a person at a terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pytest

from planner.model.catalog import generated_model_id
from tests.plan.e2e_project import RATE_LIMIT, SUPPORT, THREE_MODELS, Admin, Project, count


def test_a_change_outside_llmplan_is_reported_separately(project: Project, admin: Admin) -> None:
    project.write_models(THREE_MODELS)
    project.apply()
    admin.patch(SUPPORT, max_tokens=1024)  # a console edit
    done = project.run("plan", "--env", "dev", "--detailed-exitcode")
    assert done.code == 2, done
    head, _, rest = done.stdout.partition("llmplan will perform the following actions in environment dev:\n\n")
    assert head.startswith("Changed outside llmplan since the last apply:\n\n")
    assert "  ~ support-bot (applied " in head and ", state version 1, live version 2)\n" in head
    assert "      ~ max_tokens: 1024 → 2048\n" in head  # from live, as every arrow: to what llmplan last applied
    # the plan puts the YAML's value back
    assert rest == (
        f"  # support-bot ({SUPPORT}) will be updated in place (live version 2)\n"
        "  ~ update support-bot\n"
        "      ~ max_tokens: 1024 → 2048\n"
        "      # (8 unchanged fields hidden)\n\n"
        "Plan: 0 to create, 1 to update, 0 to forget.\n"
    )
    assert "  (each line reads live → last applied)\n" in head and "Field lines read live → YAML.\n" in head

    code, document = project.json("plan", "--env", "dev")
    (drift,) = document["resource_drift"]
    assert drift["address"] == "support-bot"
    assert drift["mode"] == "managed" and drift["type"] == "llm_model_configuration"
    assert drift["change"]["actions"] == ["update"]
    assert (drift["change"]["before"]["max_tokens"], drift["change"]["after"]["max_tokens"]) == (2048, 1024)
    assert drift["field_changes"] == [{"path": "max_tokens", "before": 2048, "after": 1024}]
    assert (drift["state_version"], drift["live_version"]) == (1, 2)
    assert document["llmplan"]["summary"]["drifted"] == 1

    markdown = project.run("plan", "--env", "dev", "--format", "markdown").stdout
    assert "> 1 model changed outside llmplan since the last apply: `support-bot`.\n" in markdown
    assert "<details><summary>Changed outside llmplan (live → last applied)</summary>" in markdown


def test_an_unknown_model_id_names_the_file_and_line(project: Project, admin: Admin) -> None:
    project.write_models(THREE_MODELS)
    ghost = "0badc0de-0000-4000-8000-000000000000"
    project.write_model("ghost", f"# an old model\n\nmodel_id: {ghost}\n" + THREE_MODELS["summarizer"].split("\n", 2)[2])
    done = project.run("plan", "--env", "dev")
    assert done.code == 1, done
    assert f"environments/dev/models/ghost.yaml:3 model_id: model {ghost} does not exist on the gateway" in done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr


def test_every_capability_violation_is_reported_with_file_and_line_and_nothing_is_sent(project: Project, admin: Admin) -> None:
    project.write_models(THREE_MODELS)
    # support-bot's model allows 4096 tokens and restricts the political filter
    project.edit_model("support-bot", "max_tokens: 2048", "max_tokens: 5000")
    project.edit_model("support-bot", "  - {filter_type: self_harm, action: block, threshold: 10}\n", "  - {filter_type: political, action: block, threshold: 10}\n")
    # the router's model allows 2048 tokens and restricts profanity and political
    project.edit_model("intent-router", "max_tokens: 512", "max_tokens: 3000")
    admin.clear_requests()
    for args in (("plan", "--env", "dev"), ("apply", "--env", "dev", "--auto-approve")):
        done = project.run(*args)
        assert done.code == 1, done
        assert "3 problems" in done.stderr, done
        assert "environments/dev/models/intent-router.yaml:7 max_tokens: 3000 exceeds the model's max_context_window of 2048" in done.stderr
        assert "environments/dev/models/support-bot.yaml:6 safety_filters[1].action: filter 'political' is restricted on this model and may not use 'block'" in done.stderr
        assert "environments/dev/models/support-bot.yaml:7 max_tokens: 5000 exceeds the model's max_context_window of 4096" in done.stderr
        assert done.stdout == ""
    assert [entry for entry in admin.requests() if entry["method"] == "PUT"] == []


def test_a_small_environment_is_fetched_model_by_model(project: Project, admin: Admin) -> None:
    project.write_models(THREE_MODELS)
    project.apply()
    admin.clear_requests()
    assert project.run("plan", "--env", "dev").code == 0
    log = admin.requests()
    assert count(log, "GET", "/api/v2/ai/models", exact=True) == 0
    # one GET of each model (capabilities) and one of its configuration
    assert count(log, "GET", "/api/v2/ai/models/") == 6
    assert len(log) == 7
    assert count(log, "POST", "/oauth/token") == 1


def test_debug_logs_each_request_with_credentials_masked(project: Project, admin: Admin) -> None:
    project.write_models(THREE_MODELS)
    quiet = project.run("plan", "--env", "dev")
    loud = project.run("--debug", "plan", "--env", "dev")
    assert quiet.code == loud.code == 0
    assert "llmplan.gateway" not in quiet.stderr
    assert "DEBUG llmplan.gateway: POST /oauth/token -> 200" in loud.stderr
    assert "'Authorization': 'Bearer ***'" in loud.stderr
    assert "sandbox-secret" not in loud.stderr


def test_a_never_configured_model_costs_two_gets_not_three(project: Project, admin: Admin) -> None:
    project.write_models(THREE_MODELS)  # none of them configured yet
    admin.clear_requests()
    assert project.run("plan", "--env", "dev").code == 0
    log = admin.requests()
    # the model GET beside the configuration GET already tells "never configured" from "unknown"
    assert count(log, "GET", "/api/v2/ai/models/") == 6
    assert len(log) == 7


@pytest.fixture
def large(make_sandbox, tmp_path) -> tuple[Project, Admin]:  # type: ignore[no-untyped-def]
    running = make_sandbox(extra_models=150, rate_limit=RATE_LIMIT)
    project = Project(tmp_path / "large", running.url)
    body = THREE_MODELS["summarizer"].split("\n", 2)[2]
    for index in range(1, 151):
        project.write_model(f"bench-{index:05d}", f"model_id: {generated_model_id(index)}\n{body}")
    return project, Admin(running.url)


def test_a_large_environment_reads_the_paged_list(large: tuple[Project, Admin]) -> None:
    project, admin = large
    admin.clear_requests()
    done = project.run("plan", "--env", "dev", "--detailed-exitcode")
    assert done.code == 2, done
    assert done.stdout.endswith("Plan: 150 to create, 0 to update, 0 to forget.\n")
    log = admin.requests()
    # 156 models on the gateway, 100 a page: 2 list requests instead of 300 GETs
    assert count(log, "GET", "/api/v2/ai/models", exact=True) == 2
    assert count(log, "GET", "/api/v2/ai/models/") == 0
    assert count(log, "POST", "/oauth/token") == 1
    assert len(log) == 3
    assert all("expand=configuration" in entry["query"] for entry in log if entry["path"] == "/api/v2/ai/models")


def test_a_large_environment_checks_capabilities_and_unknown_ids_too(large: tuple[Project, Admin]) -> None:
    project, _ = large
    project.edit_model("bench-00007", "max_tokens: 4096", "max_tokens: 8192")  # allowed: 8192
    project.write_model("ghost", "model_id: 0badc0de-0000-4000-8000-000000000000\n" + THREE_MODELS["summarizer"].split("\n", 2)[2])
    project.write_model("support-bot", THREE_MODELS["support-bot"].replace("max_tokens: 2048", "max_tokens: 4097"))
    done = project.run("plan", "--env", "dev")
    assert done.code == 1, done
    assert "environments/dev/models/ghost.yaml:1 model_id: model 0badc0de-0000-4000-8000-000000000000 does not exist on the gateway" in done.stderr
    assert "environments/dev/models/support-bot.yaml:7 max_tokens: 4097 exceeds the model's max_context_window of 4096" in done.stderr
    assert "bench-00007" not in done.stderr


# --- colors ------------------------------------------------------------------------------


def run_on_a_terminal(project: Project, *args: str, env: dict[str, str | None]) -> str:
    """Run ``python -m planner`` with stdout on a pseudo-terminal; what it printed."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("LLMPLAN_", "GENESYSCLOUD_")) and key != "NO_COLOR"}
    environ.update({key: value for key, value in project.environ(env).items() if value is not None})
    primary, secondary = pty.openpty()
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "planner", *args, "--root", str(project.root)],
            stdin=subprocess.DEVNULL, stdout=secondary, stderr=subprocess.DEVNULL, env=environ,
        )
        os.close(secondary)
        chunks: list[bytes] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                try:
                    data = os.read(primary, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif child.poll() is not None:
                break
        child.wait(timeout=30)
        return b"".join(chunks).decode("utf-8", "replace")
    finally:
        os.close(primary)


def test_colors_only_on_a_terminal_and_never_with_no_color(project: Project) -> None:
    project.write_models(THREE_MODELS)
    on_terminal = run_on_a_terminal(project, "plan", "--env", "dev", env={})
    assert "\x1b[32m+ create support-bot\x1b[0m" in on_terminal
    assert "\x1b[" not in run_on_a_terminal(project, "plan", "--env", "dev", env={"NO_COLOR": "1"})
    assert "\x1b[" not in run_on_a_terminal(project, "plan", "--env", "dev", "--no-color", env={})
    piped = project.subprocess("plan", "--env", "dev")
    assert piped.code == 0, piped
    assert "+ create support-bot" in piped.stdout and "\x1b[" not in piped.stdout + piped.stderr


def test_a_sandbox_environment_can_be_pointed_at_a_running_gateway(project: Project, admin: Admin) -> None:
    """``gateway: {sandbox: true}`` plus LLMPLAN_GATEWAY_URL: the sandbox's own
    client is used when no GENESYSCLOUD_* credentials are set."""
    project.write_environment(gateway="sandbox: true")
    project.write_models(THREE_MODELS)
    admin.clear_requests()
    env = {"LLMPLAN_GATEWAY_URL": project.gateway_url, "GENESYSCLOUD_OAUTHCLIENT_ID": None, "GENESYSCLOUD_OAUTHCLIENT_SECRET": None}
    done = project.run("plan", "--env", "dev", "--detailed-exitcode", env=env)
    assert done.code == 2, done
    assert done.stdout.endswith("Plan: 3 to create, 0 to update, 0 to forget.\n")
    assert count(admin.requests(), "POST", "/oauth/token") == 1  # it talked to this sandbox, not one of its own
    assert not (project.state_dir / "sandbox.json").exists()


def test_two_plans_of_the_same_input_differ_only_in_their_timestamp(project: Project, admin: Admin) -> None:
    import json

    project.write_models(THREE_MODELS)
    project.apply()
    admin.patch(SUPPORT, max_tokens=1024, safety_filters=[{"filter_type": "self_harm", "action": "block", "threshold": 10}, {"filter_type": "pii", "action": "flag", "threshold": 5}])
    project.edit_model("summarizer", "max_tokens: 4096", "max_tokens: 4000")
    documents, texts = [], set()
    for _ in range(2):
        done = project.run("plan", "--env", "dev", "--format", "json")
        document = json.loads(done.stdout)
        del document["timestamp"], document["llmplan"]["checksum"]
        documents.append(document)
        texts.add(project.run("plan", "--env", "dev").stdout)
    assert documents[0] == documents[1]
    assert len(texts) == 1

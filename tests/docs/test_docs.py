"""docs/ stays true: links resolve, the key and field lists are the schemas',
the file list is what llmplan writes, the examples print what the docs show,
and the code snippets work."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.docs.docs_helpers import (
    DOCS,
    REPO,
    WORKFLOWS,
    backticked,
    code_blocks,
    find_step,
    github_anchor,
    llmplan_commands,
    load_workflow,
    parse_cli,
    section,
    table_rows,
)
from tests.records.records_helpers import append, local_records

PAGES = sorted([*DOCS.glob("*.md"), WORKFLOWS / "README.md", WORKFLOWS / "postgres" / "README.md"])
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def schema(name: str) -> dict[str, Any]:
    return json.loads(read(REPO / "schemas" / name))


def test_the_four_pages_exist_and_the_index_links_them() -> None:
    index = read(DOCS / "README.md")
    for page in ("environment.md", "policies.md", "state.md", "audit.md"):
        assert (DOCS / page).is_file()
        assert f"]({page})" in index


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_points_to_an_existing_file_and_heading(page: Path) -> None:
    links = LINK.findall(read(page))
    assert links, "a page without links: is the pattern broken?"
    for target in links:
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto:
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        assert resolved.exists(), f"{page.name}: {target} → {resolved} does not exist"
        assert resolved.is_relative_to(REPO), f"{page.name}: {target} leaves the repository"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", read(resolved), re.MULTILINE)
            assert anchor in {github_anchor(h) for h in headings}, f"{page.name}: no heading #{anchor} in {resolved.name}"


# --- environment.md ---------------------------------------------------------


def schema_keys(node: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Dotted key → schema of every key an environment.yaml may hold (policy is free-form)."""
    keys = {}
    for name, spec in node.get("properties", {}).items():
        dotted = f"{prefix}{name}"
        keys[dotted] = spec
        if name != "policy" and "properties" in spec:
            keys.update(schema_keys(spec, dotted + "."))
    return keys


def documented_keys() -> dict[str, list[str]]:
    rows = table_rows(section(read(DOCS / "environment.md"), "Every key"))
    return {backticked(row[0]): row for row in rows}


def test_environment_doc_lists_exactly_the_keys_of_the_schema() -> None:
    assert set(documented_keys()) == set(schema_keys(schema("environment.schema.json")))


def test_environment_doc_states_the_schema_defaults() -> None:
    documented = documented_keys()
    with_default = {key: spec["default"] for key, spec in schema_keys(schema("environment.schema.json")).items() if "default" in spec}
    assert set(with_default) == {
        "gateway.timeout_seconds", "governance.timeout_seconds", "governance.deliver_after_apply_seconds", "apply.parallelism", "apply.max_change_percent",
        "apply.weakening", "state.backend", "state.dsn_env", "state.schema", "state.timeout_seconds",
    }
    for key, default in with_default.items():
        assert documented[key][2] == str(default), key


def test_environment_doc_region_table_is_the_clients() -> None:
    from planner.adapters.gateway.endpoints import REGION_DOMAINS

    rows = table_rows(section(read(DOCS / "environment.md"), "Where the gateway is"))
    assert {backticked(region): domain for region, domain in rows} == dict(REGION_DOMAINS)
    assert set(REGION_DOMAINS) == set(schema("environment.schema.json")["properties"]["gateway"]["properties"]["region"]["enum"])


# --- audit.md ---------------------------------------------------------------


def test_audit_doc_lists_exactly_the_fields_of_an_entry() -> None:
    rows = table_rows(section(read(DOCS / "audit.md"), "An entry"))
    assert [backticked(row[0]) for row in rows] != []
    assert {backticked(row[0]) for row in rows} == set(schema("audit-entry.schema.json")["properties"])


def python_blocks(page: str) -> dict[str, Any]:
    """Run every python block of a page in one namespace; return what they define."""
    namespace: dict[str, Any] = {}
    blocks = [body for language, body in code_blocks(read(DOCS / page)) if language == "python"]
    assert blocks
    for body in blocks:
        exec(compile(body, f"docs/{page}", "exec"), namespace)  # noqa: S102 - our own doc snippets
    return namespace


def test_the_chain_check_of_the_audit_doc_verifies_a_real_trail_and_names_the_edited_line(tmp_path: Path) -> None:
    records = local_records(tmp_path, "prod")
    append(records, *({
        "operation_id": "b9affa1c-e6db-465e-af33-7789bc6b0d9f", "environment": "prod", "address": "support-bot",
        "model_id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890", "action": "configuration_update", "status": status,
        "latency_ms": latency, "payload_hash": "0" * 64, "compliance_mode": "strict", "plan_checksum": None,
    } for status, latency in (("pending", 0.0), ("success", 197.916), ("pending", 0.0))))
    verify_chain = python_blocks("audit.md")["verify_chain"]
    assert verify_chain(str(records.audit.path)) == 3

    lines = records.audit.path.read_text(encoding="utf-8").splitlines(keepends=True)
    edited = tmp_path / "edited.jsonl"
    edited.write_text(lines[0] + lines[1].replace('"strict"', '"permissive"') + lines[2], encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: entry_hash"):
        verify_chain(str(edited))
    reordered = tmp_path / "reordered.jsonl"
    reordered.write_text(lines[1] + lines[0] + lines[2], encoding="utf-8")
    with pytest.raises(ValueError, match="line 1: prev_hash"):
        verify_chain(str(reordered))


def test_the_receiver_of_the_audit_doc_accepts_what_llmplan_signs_and_nothing_else() -> None:
    import time

    from planner.adapters.signing import parse_secrets, webhook_headers

    verified_event = python_blocks("audit.md")["verified_event"]
    body = b'{"event_id":"9a942bf1-5a54-48a8-9036-43f1e30920c4","event_type":"llm_config_change"}'
    whsec, plain = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "plain-s3cret-of-old"

    def headers(secret: str, sent: float | None = None) -> dict[str, str]:
        return webhook_headers("9a942bf1-5a54-48a8-9036-43f1e30920c4", time.time() if sent is None else sent, body, parse_secrets(secret))

    assert verified_event(body, headers(whsec), whsec)["event_type"] == "llm_config_change"
    assert verified_event(body, headers(plain), plain) is not None  # a plain secret, as the doc passes it
    assert verified_event(body, headers(f"{plain} {whsec}"), whsec) is not None  # mid-rotation: either key
    assert verified_event(body, headers(whsec), "whsec_" + "A" * 32) is None  # another secret
    assert verified_event(body.replace(b"llm", b"LLM"), headers(whsec), whsec) is None  # a changed body
    assert verified_event(body, headers(whsec, time.time() - 600), whsec) is None  # replayed ten minutes later
    assert verified_event(body, {}, whsec) is None  # unsigned


# --- state.md ---------------------------------------------------------------


def state_files() -> dict[str, str]:
    """File name → the 'commit to Git?' cell of the table in state.md."""
    rows = table_rows(section(read(DOCS / "state.md"), "The files"))
    return {backticked(row[0]): row[2] for row in rows}


def test_state_doc_names_every_file_llmplan_keeps_in_the_state_folder() -> None:
    from planner.adapters.records import local, local_audit, local_lock, local_outbox, local_state

    written = {
        local_state.STATE_FILE, local_state.BACKUP_FILE, local_state.JOURNAL_FILE, local_lock.LOCK_FILE, local_lock.LOCK_METADATA_FILE, local_lock.FENCE_FILE, local.DRIFT_FILE,
        local_audit.AUDIT_FILE, local_audit.AUDIT_FILE + ".head", local_audit.AUDIT_FILE + ".torn",
        local_outbox.OUTBOX_FILE, local_outbox.OUTBOX_FILE + ".delivered",
        "metrics.prom", "sandbox.json",  # named in planner.app.apply and planner.app.connections
    }
    assert set(state_files()) == written


def test_state_doc_gitignore_and_the_apply_workflow_agree_with_the_table() -> None:
    files = state_files()
    never = {name for name, cell in files.items() if cell == "no"}
    (ignore,) = [body for language, body in code_blocks(read(DOCS / "state.md")) if language == "gitignore"]
    patterns = [line for line in ignore.splitlines() if line and not line.startswith("#")]
    assert {line.removeprefix("state/*/") for line in patterns} == never | {".*.tmp"}

    commit = find_step(load_workflow(WORKFLOWS / "apply.yml"), "apply", "Commit state/")["run"]
    (listed,) = re.findall(r"for name in ([^;]+);", commit)
    assert set(listed.split()) == set(files) - never
    assert not set(listed.split()) & never


# --- examples print what the docs show ---------------------------------------


def llmplan_validate(root: Path, env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "planner", "validate", "--env", env, "--root", str(root)],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )


def shown_output(page: str, command: str) -> str:
    """The output lines shown under `$ COMMAND` in the first block that has it."""
    for _, body in code_blocks(read(DOCS / page)):
        if body.startswith(f"$ {command}\n"):
            return body.split("\n", 1)[1]
    raise AssertionError(f"no `$ {command}` block in {page}")


def test_the_policy_example_prints_what_policies_md_shows(tmp_path: Path) -> None:
    shutil.copytree(REPO / "environments" / "prod", tmp_path / "environments" / "prod")
    yaml_blocks = [body for language, body in code_blocks(read(DOCS / "policies.md")) if language == "yaml"]
    environment_file, model_file = yaml_blocks[:2]
    assert environment_file.startswith("# environments/prod/environment.yaml") and model_file.startswith("# environments/prod/models/summarizer.yaml")
    (tmp_path / "environments/prod/environment.yaml").write_text(environment_file, encoding="utf-8")
    (tmp_path / "environments/prod/models/summarizer.yaml").write_text(model_file, encoding="utf-8")
    result = llmplan_validate(tmp_path, "prod")
    assert result.returncode == 1
    assert result.stderr == shown_output("policies.md", "llmplan validate --env prod")


def test_every_policy_example_is_a_valid_json_schema() -> None:
    from jsonschema import Draft202012Validator

    policies = [yaml.safe_load(body)["policy"] for language, body in code_blocks(read(DOCS / "policies.md")) if language == "yaml" and "policy:" in body]
    assert len(policies) >= 5
    for policy in policies:
        Draft202012Validator.check_schema(policy)


def test_the_environment_example_error_is_what_validate_prints(tmp_path: Path) -> None:
    shutil.copytree(REPO / "environments" / "prod", tmp_path / "environments" / "prod")
    settings = tmp_path / "environments/prod/environment.yaml"
    text = read(settings)
    assert "  region: eu-west-1\n" in text
    settings.write_text(text.replace("  region: eu-west-1\n", "  region: eu-west-1\n  sandbox: true\n"), encoding="utf-8")
    result = llmplan_validate(tmp_path, "prod")
    assert result.returncode == 1
    assert result.stderr == shown_output("environment.md", "llmplan validate --env prod")


def test_every_llmplan_command_shown_in_the_docs_is_accepted_by_the_cli_parser() -> None:
    checked = 0
    for page in PAGES:
        for language, body in code_blocks(read(page)):
            if language not in ("", "sh", "console"):
                continue
            for line in body.splitlines():
                if line.startswith("$ llmplan ") or line.startswith("llmplan "):
                    for args in llmplan_commands(line.removeprefix("$ ")):
                        parse_cli(args)
                        checked += 1
    assert checked >= 8

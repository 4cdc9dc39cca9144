"""The data file: what one sandbox wrote, the next one serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
import requests

from planner.model.errors import ConfigurationError
from planner.sandbox import SandboxDataError, start_sandbox

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
CONFIG = f"/api/v2/ai/models/{SUPPORT}/configuration"


def test_configurations_survive_a_restart(tmp_path: Path, make_sandbox: Callable[..., Any], make_api: Callable[..., Any], valid_config: Callable[..., dict[str, Any]]) -> None:
    data = tmp_path / "state" / "dev" / "sandbox.json"
    first = make_sandbox(data_file=data)
    applied = make_api(first).put_config(SUPPORT, valid_config()).json()
    requests.patch(f"{first.url}/__sandbox/models/{SUPPORT}/configuration", json={"max_tokens": 1000}, timeout=5).raise_for_status()
    first.stop()

    second = make_sandbox(data_file=data)
    served = make_api(second).get(CONFIG).json()
    assert served["version"] == 2
    assert served["max_tokens"] == 1000
    assert served["temperature_matrix"] == applied["temperature_matrix"]
    assert served["selfUri"] == CONFIG


def test_seeded_and_deleted_models_persist(tmp_path: Path, make_sandbox: Callable[..., Any], make_api: Callable[..., Any]) -> None:
    data = tmp_path / "sandbox.json"
    first = make_sandbox(data_file=data, catalog=False)
    model = {"id": "12345678-1234-4234-8234-123456789abc", "name": "kept", "capabilities": {"max_context_window": 100}}
    requests.post(f"{first.url}/__sandbox/models", json={"models": [model]}, timeout=5).raise_for_status()
    first.stop()
    second = make_sandbox(data_file=data, catalog=False)
    assert [e["name"] for e in make_api(second).get("/api/v2/ai/models").json()["entities"]] == ["kept"]


def test_a_missing_file_is_created_with_the_catalog(tmp_path: Path, make_sandbox: Callable[..., Any]) -> None:
    data = tmp_path / "new" / "sandbox.json"
    make_sandbox(data_file=data, extra_models=2)
    saved = json.loads(data.read_text())
    assert saved["format"] == "llmplan-sandbox-store"
    assert saved["format_version"] == 1
    assert [m["name"] for m in saved["models"]][-2:] == ["bench-00001", "bench-00002"]
    assert len(saved["models"]) == 8


def test_writes_leave_no_temporary_files(tmp_path: Path, make_sandbox: Callable[..., Any], make_api: Callable[..., Any], valid_config: Callable[..., dict[str, Any]]) -> None:
    data = tmp_path / "sandbox.json"
    api = make_api(make_sandbox(data_file=data))
    for n in range(5):
        assert api.put_config(SUPPORT, valid_config(max_tokens=100 + n)).status_code == 200
    assert sorted(path.name for path in tmp_path.iterdir()) == ["sandbox.json"]
    assert json.loads(data.read_text())["models"][0]["configuration"]["version"] == 5


def test_in_memory_without_a_data_file(make_sandbox: Callable[..., Any], make_api: Callable[..., Any], valid_config: Callable[..., dict[str, Any]]) -> None:
    first = make_sandbox()
    make_api(first).put_config(SUPPORT, valid_config())
    first.stop()
    assert make_api(make_sandbox()).get(CONFIG).status_code == 404


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('{"format": "llmplan-sandbox-store", "models": [', "is not valid JSON"),
        ("", "is not valid JSON"),
        ('{"terraform_version": "1.9"}', "is not a sandbox data file"),
        ('{"format": "llmplan-sandbox-store", "format_version": 99, "models": []}', "format_version 99"),
        ('{"format": "llmplan-sandbox-store", "format_version": 1, "models": [{"id": "x", "name": "m", "capabilities": {"max_context_window": 1}}]}', "models[0].id"),
        (
            '{"format": "llmplan-sandbox-store", "format_version": 1, "models": [{"id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890", "name": "m",'
            ' "capabilities": {"max_context_window": 10}, "configuration": {"max_tokens": 20}}]}',
            "models[0].configuration",
        ),
    ],
)
def test_a_corrupt_file_is_refused_with_a_clear_error(tmp_path: Path, content: str, says: str) -> None:
    data = tmp_path / "sandbox.json"
    data.write_text(content)
    with pytest.raises(SandboxDataError) as raised:
        start_sandbox(data_file=data)
    assert says in str(raised.value)
    assert str(data) in str(raised.value)
    assert isinstance(raised.value, ConfigurationError)  # the CLI turns it into exit 1 with the message
    assert data.read_text() == content  # left alone for the user to inspect


def test_an_unwritable_location_is_refused_at_start(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(SandboxDataError) as raised:
        start_sandbox(data_file=blocker / "sandbox.json")
    assert "cannot write" in str(raised.value)

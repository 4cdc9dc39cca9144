"""Answers that never arrive although the change landed (``lost_answer``,
``slow_answer``), and the ``version: 0`` guard that makes a resent first
configuration safe: the contract's "lost answers", as the sandbox plays them."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import requests

from tests.sandbox.serve_process import serving, token

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
CONFIG = f"/api/v2/ai/models/{SUPPORT}/configuration"


def set_faults(sandbox: Any, **settings: Any) -> None:
    response = requests.post(f"{sandbox.url}/__sandbox/faults", json=settings, timeout=5)
    assert response.status_code == 200, response.text


def logged(url: str, method: str = "PUT") -> list[dict[str, Any]]:
    entries = requests.get(f"{url}/__sandbox/requests", timeout=5).json()["requests"]
    return [entry for entry in entries if entry["method"] == method]


@pytest.fixture
def gateway(make_sandbox: Callable[..., Any], make_api: Callable[..., Any]) -> tuple[Any, Any]:
    sandbox = make_sandbox(rate_limit=100_000)
    return sandbox, make_api(sandbox)


# --- version: 0 ------------------------------------------------------------------------------------


def test_version_0_guards_a_first_configuration(gateway: tuple[Any, Any], valid_config: Callable[..., dict[str, Any]]) -> None:
    _, api = gateway
    first = api.put_config(SUPPORT, valid_config(version=0))
    assert (first.status_code, first.json()["version"]) == (200, 1)  # a first configuration gets version 1
    again = api.put_config(SUPPORT, valid_config(version=0, max_tokens=1000))
    assert (again.status_code, again.json()["code"]) == (409, "conflict")
    assert "version 0" in again.json()["message"] and "current version 1" in again.json()["message"]
    assert api.get(CONFIG).json() == first.json()  # the refused PUT changed nothing


def test_version_0_is_accepted_again_once_the_configuration_is_removed(gateway: tuple[Any, Any], valid_config: Callable[..., dict[str, Any]]) -> None:
    sandbox, api = gateway
    api.put_config(SUPPORT, valid_config(version=0))
    seeded = {"id": SUPPORT, "name": "claude-support", "capabilities": {"max_context_window": 4096}, "configuration": None}
    assert requests.post(f"{sandbox.url}/__sandbox/models", json={"models": [seeded]}, timeout=5).status_code == 200
    assert api.put_config(SUPPORT, valid_config(version=0)).json()["version"] == 1


# --- lost_answer ----------------------------------------------------------------------------------


def test_a_lost_answer_lands_the_put_and_closes_the_connection(gateway: tuple[Any, Any], valid_config: Callable[..., dict[str, Any]]) -> None:
    sandbox, api = gateway
    set_faults(sandbox, rules=[{"match": {"method": "PUT"}, "effect": "lost_answer", "count": 1}])
    with pytest.raises(requests.ConnectionError):
        api.put_config(SUPPORT, valid_config(version=0))
    landed = api.get(CONFIG).json()
    assert (landed["version"], landed["max_tokens"]) == (1, 2048)  # applied although never answered
    # A blind resend of the guarded first configuration cannot apply twice.
    assert api.put_config(SUPPORT, valid_config(version=0)).status_code == 409
    assert [(entry["status"], entry["answer"]) for entry in logged(sandbox.url)] == [(200, "lost"), (409, "sent")]


def test_a_share_of_lost_answers_is_counted_in_the_request_log(gateway: tuple[Any, Any], valid_config: Callable[..., dict[str, Any]]) -> None:
    sandbox, api = gateway
    set_faults(sandbox, seed=5, rules=[{"match": {"method": "PUT", "path": "/api/v2/ai/models/*"}, "effect": "lost_answer", "share": 0.5}])
    failures = 0
    for version in range(20):
        try:
            assert api.put_config(SUPPORT, valid_config(version=version)).status_code == 200
        except requests.ConnectionError:
            failures += 1
    entries = logged(sandbox.url)
    assert 3 <= failures <= 17  # about half of 20
    assert sum(entry["answer"] == "lost" for entry in entries) == failures
    assert [entry["status"] for entry in entries] == [200] * 20  # every PUT landed, answered or not
    assert api.get(CONFIG).json()["version"] == 20
    assert api.get(f"/api/v2/ai/models/{SUPPORT}").status_code == 200  # GETs are not matched by the rule


def test_a_lost_answer_on_the_webhook_records_the_delivery(sandbox: Any) -> None:
    hook = f"{sandbox.url}/__sandbox/webhook"
    set_faults(sandbox, rules=[{"match": {"path": "/__sandbox/webhook"}, "effect": "lost_answer", "count": 1}])
    with pytest.raises(requests.ConnectionError):
        requests.post(hook, json={"event": 1}, timeout=5)
    assert [delivery["body"] for delivery in requests.get(hook, timeout=5).json()["deliveries"]] == [{"event": 1}]


# --- slow_answer ------------------------------------------------------------------------------------


def test_a_slow_answer_lands_the_put_and_outlasts_the_read_timeout(gateway: tuple[Any, Any], valid_config: Callable[..., dict[str, Any]]) -> None:
    sandbox, api = gateway
    set_faults(sandbox, rules=[{"match": {"method": "PUT"}, "effect": "slow_answer", "delay_ms": 30_000, "count": 1}])
    with pytest.raises(requests.ReadTimeout):
        api.put(CONFIG, json=valid_config(version=0), timeout=(5, 0.5))
    assert [(entry["status"], entry["answer"]) for entry in logged(sandbox.url)] == [(200, "delayed")]  # logged once applied
    assert api.get(CONFIG).json()["version"] == 1


def test_a_slow_answer_arrives_after_its_delay(gateway: tuple[Any, Any], valid_config: Callable[..., dict[str, Any]]) -> None:
    sandbox, api = gateway
    set_faults(sandbox, rules=[{"match": {"method": "PUT"}, "effect": "slow_answer", "delay_ms": 300, "count": 1}])
    started = time.monotonic()
    response = api.put_config(SUPPORT, valid_config())
    assert (response.status_code, response.json()["version"]) == (200, 1)
    assert time.monotonic() - started >= 0.3
    shown = requests.get(f"{sandbox.url}/__sandbox/faults", timeout=5).json()["rules"]
    assert shown == [{"match": {"method": "PUT"}, "effect": "slow_answer", "count": 1, "delay_ms": 300, "matched": 1, "fired": 1}]


def test_a_slow_answer_needs_its_delay(sandbox: Any) -> None:
    response = requests.post(f"{sandbox.url}/__sandbox/faults", json={"rules": [{"effect": "slow_answer"}]}, timeout=5)
    assert response.status_code == 400
    assert response.json()["errors"][0]["details"] == [{"fieldName": "rules[0]"}]
    assert "delay_ms" in response.json()["message"]


# --- sandbox serve: options, faults file, and a clean log --------------------------------------------


def test_serve_options_and_a_faults_file_lose_answers_without_a_traceback(tmp_path: Path, valid_config: Callable[..., dict[str, Any]]) -> None:
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"rules": [{"match": {"method": "PUT"}, "effect": "slow_answer", "delay_ms": 30_000, "count": 1}]}))
    options = ("--faults", str(faults), "--lost-answer-share", "1", "--slow-answer-share", "1", "--slow-answer-ms", "40000", "--verbose")
    with serving(*options) as (process, url):
        headers = {"Authorization": f"Bearer {token(url).json()['access_token']}"}
        rules = requests.get(f"{url}/__sandbox/faults", timeout=5).json()["rules"]
        assert [(rule["effect"], rule.get("share"), rule.get("delay_ms")) for rule in rules] == [
            ("slow_answer", None, 30_000),  # the file's rules first
            ("lost_answer", 1.0, None),
            ("slow_answer", 1.0, 40_000),
        ]
        with pytest.raises(requests.ReadTimeout):  # the file's rule: the client gives up, then the server writes to a closed socket
            requests.put(f"{url}{CONFIG}", json=valid_config(version=0), headers=headers, timeout=(5, 0.5))
        for _ in range(3):  # --lost-answer-share 1: every other API request is applied and never answered
            with pytest.raises(requests.ConnectionError):
                requests.get(f"{url}{CONFIG}", headers=headers, timeout=5)
        statuses = [(entry["method"], entry["status"], entry["answer"]) for entry in requests.get(f"{url}/__sandbox/requests", timeout=5).json()["requests"]]
        assert statuses == [("POST", 200, "sent"), ("PUT", 200, "delayed")] + [("GET", 200, "lost")] * 3
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    assert stderr.count("200 answer lost") == 3

"""``llmplan sandbox serve`` driven as a user drives it: a real process, real signals."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import click
import pytest
import requests
from click.testing import CliRunner

from planner.cli.sandbox import sandbox as sandbox_group
from tests.sandbox.serve_process import serving, token

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_announces_its_address_answers_and_stops_cleanly(stop_signal: signal.Signals) -> None:
    with serving() as (process, url):
        access = token(url).json()["access_token"]
        model = requests.get(f"{url}/api/v2/ai/models/{SUPPORT}", headers={"Authorization": f"Bearer {access}"}, timeout=5)
        assert model.json()["name"] == "claude-support"
        process.send_signal(stop_signal)
        _, stderr = process.communicate(timeout=15)
        assert process.returncode == 0
        assert "Traceback" not in stderr
        assert "sandbox-secret" not in stderr


def test_serve_options_shape_the_gateway(tmp_path: Path) -> None:
    data = tmp_path / "sandbox.json"
    with serving("--models", "30", "--rate-limit", "7", "--token-lifetime", "120", "--data", str(data)) as (process, url):
        granted = token(url).json()
        assert granted["expires_in"] == 120
        page = requests.get(f"{url}/api/v2/ai/models", headers={"Authorization": f"Bearer {granted['access_token']}"}, timeout=5)
        assert page.json()["total"] == 36
        assert page.headers["inin-ratelimit-allowed"] == "7"
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)
    assert data.exists()


def test_fail_flags_inject_faults_from_the_start() -> None:
    with serving("--fail", "503:1", "--seed", "3") as (_, url):
        access = token(url).json()["access_token"]
        response = requests.get(f"{url}/api/v2/ai/models", headers={"Authorization": f"Bearer {access}"}, timeout=5)
        assert response.status_code == 503
        rules = requests.get(f"{url}/__sandbox/faults", timeout=5).json()["rules"]
        assert rules == [{"effect": "status", "status": 503, "share": 1.0, "matched": 1, "fired": 1}]


def test_the_client_secret_can_come_from_the_environment() -> None:
    with serving("--client-id", "ci", env={"LLMPLAN_SANDBOX_CLIENT_SECRET": "from-env"}) as (_, url):
        assert token(url, ("ci", "from-env")).status_code == 200
        assert token(url).status_code == 401


def test_the_webhook_secret_from_the_environment_makes_the_receiver_verify() -> None:
    from standardwebhooks import Webhook

    secret = "whsec_" + base64.b64encode(b"serve-webhook-secret-test-32byte").decode()
    body = '{"event_id":"e-1"}'
    sent = datetime.now(tz=timezone.utc)
    headers = {"webhook-id": "e-1", "webhook-timestamp": str(int(sent.timestamp())), "webhook-signature": Webhook(secret).sign("e-1", sent, body)}
    with serving(env={"LLMPLAN_SANDBOX_WEBHOOK_SECRET": secret}) as (process, url):
        requests.post(f"{url}/__sandbox/webhook", data=body, headers=headers, timeout=5).raise_for_status()
        requests.post(f"{url}/__sandbox/webhook", data=body + " ", headers=headers, timeout=5).raise_for_status()
        verdicts = [delivery["verified"] for delivery in requests.get(f"{url}/__sandbox/webhook", timeout=5).json()["deliveries"]]
        assert verdicts == [True, False]
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    assert secret not in stderr


def test_a_malformed_webhook_secret_is_a_clear_error_that_does_not_echo_it() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "planner", "sandbox", "serve", "--port", "0"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "LLMPLAN_SANDBOX_WEBHOOK_SECRET": "whsec_%%secret-canary%%"},
    )
    assert result.returncode == 1
    assert "the sandbox's webhook secret starts with whsec_ but what follows is not base64" in result.stderr
    assert "secret-canary" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "planner", "sandbox", "serve", *arguments], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_non_loopback_host_is_refused_with_a_hint() -> None:
    result = run_cli("--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 1
    assert "refusing to serve the sandbox on 0.0.0.0" in result.stderr
    assert "--allow-remote" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_corrupt_data_file_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "sandbox.json"
    data.write_text("{not json")
    result = run_cli("--port", "0", "--data", str(data))
    assert result.returncode == 1
    assert f"sandbox data file {data} is not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_malformed_fail_flag_is_a_usage_error() -> None:
    result = run_cli("--port", "0", "--fail", "often")
    assert result.returncode == 1
    assert "STATUS:SHARE" in result.stderr


def test_every_option_has_help_and_the_command_has_an_example() -> None:
    serve = sandbox_group.commands["serve"]
    options = [parameter for parameter in serve.params if isinstance(parameter, click.Option)]
    assert len(options) >= 15
    assert [option.name for option in options if not option.help] == []
    result = CliRunner().invoke(sandbox_group, ["serve", "--help"])
    assert result.exit_code == 0
    assert "llmplan sandbox serve --port" in result.output
    assert "listening on http://HOST:PORT" in result.output


# --- sandbox edit --url: a console edit on a running sandbox ------------------------------------


def edit(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "planner", "sandbox", "edit", *arguments], capture_output=True, text=True, timeout=60, check=False
    )


def test_edit_url_changes_a_running_sandbox_like_a_console_edit() -> None:
    config = {
        "model_id": SUPPORT,
        "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.3},
        "safety_filters": [{"filter_type": "pii", "action": "redact", "threshold": 85}],
        "max_tokens": 2048,
    }
    with serving() as (process, url):
        headers = {"Authorization": f"Bearer {token(url).json()['access_token']}"}
        live = f"{url}/api/v2/ai/models/{SUPPORT}/configuration"
        assert requests.put(live, json=config, headers=headers, timeout=5).json()["version"] == 1

        result = edit("--url", url, SUPPORT, "max_tokens=1024", "temperature_matrix.creative=1.4")
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout == f"{SUPPORT}: now version 2 (max_tokens=1024, temperature_matrix.creative=1.4)\n"
        drifted = requests.get(live, headers=headers, timeout=5).json()
        assert (drifted["version"], drifted["max_tokens"], drifted["temperature_matrix"]) == (2, 1024, {"default": 0.7, "creative": 1.4, "precise": 0.3})

        refused = edit("--url", url, SUPPORT, "max_tokens=5000")  # over the model's max_context_window of 4096
        assert refused.returncode == 1
        assert "the sandbox refused the edit (409 conflict): max_tokens: 5000 exceeds the model's max_context_window of 4096" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert requests.get(live, headers=headers, timeout=5).json()["version"] == 2  # nothing changed
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)


def test_edit_url_names_an_unreachable_sandbox_and_refuses_two_targets(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gone = edit("--url", f"http://127.0.0.1:{port}", SUPPORT, "max_tokens=1024")
    assert gone.returncode == 1
    assert f"cannot reach the sandbox at http://127.0.0.1:{port}: [Errno 111] Connection refused" in gone.stderr
    assert "llmplan sandbox serve" in gone.stderr and "Traceback" not in gone.stderr
    both = edit("--url", f"http://127.0.0.1:{port}", "--data", str(tmp_path / "sandbox.json"), SUPPORT, "max_tokens=1024")
    assert both.returncode != 0
    assert "--url, --env or --data (one of them)" in both.stderr

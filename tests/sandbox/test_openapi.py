"""The OpenAPI description: valid, served as JSON, and matched by the server's behaviour."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import requests
import yaml
from openapi_spec_validator import validate

SPEC = Path(__file__).resolve().parents[2] / "schemas" / "gateway-openapi.yaml"


def test_the_description_is_valid_openapi_3() -> None:
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    validate(spec)  # raises on an invalid description
    assert spec["openapi"].startswith("3.") and "/api/v2/ai/models/{modelId}/configuration" in spec["paths"]


def test_it_is_served_as_json_naming_this_sandbox(sandbox: Any) -> None:
    response = requests.get(f"{sandbox.url}/api/v2/docs/openapi.json", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    served = response.json()
    written = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    assert served["servers"] == [{"url": sandbox.url, "description": "this sandbox"}]
    assert {key: value for key, value in served.items() if key != "servers"} == {k: v for k, v in written.items() if k != "servers"}


def test_every_contract_endpoint_is_described() -> None:
    paths = yaml.safe_load(SPEC.read_text(encoding="utf-8"))["paths"]
    described = {(method.upper(), path) for path, item in paths.items() for method in item if method != "parameters"}
    assert {
        ("POST", "/oauth/token"),
        ("GET", "/api/v2/ai/models"),
        ("GET", "/api/v2/ai/models/{modelId}"),
        ("GET", "/api/v2/ai/models/{modelId}/configuration"),
        ("PUT", "/api/v2/ai/models/{modelId}/configuration"),
        ("POST", "/__sandbox/models"),
        ("PATCH", "/__sandbox/models/{modelId}/configuration"),
        ("POST", "/__sandbox/faults"),
        ("GET", "/__sandbox/requests"),
        ("POST", "/__sandbox/webhook"),
        ("GET", "/__sandbox/webhook"),
    } <= described
    put_answers = set(paths["/api/v2/ai/models/{modelId}/configuration"]["put"]["responses"])
    assert {"200", "400", "401", "403", "404", "409", "413", "415", "429", "503"} <= put_answers


def test_the_server_routes_exactly_the_documented_paths_and_methods() -> None:
    from planner.sandbox.routing import ALL_ROUTES

    paths = yaml.safe_load(SPEC.read_text(encoding="utf-8"))["paths"]
    documented = {(path.replace("{modelId}", "(?P<model_id>[^/]+)"), frozenset(m.upper() for m in item if m != "parameters")) for path, item in paths.items()}
    served = {(route.pattern.pattern[1:-1], frozenset(route.methods)) for route in ALL_ROUTES}
    assert served == documented


@pytest.mark.parametrize("method", ["TRACE", "OPTIONS", "BREW", "PATCH"])
def test_every_405_names_the_allowed_methods_on_every_path(gateway: tuple[Any, Any], method: str) -> None:
    sandbox, api = gateway
    paths = yaml.safe_load(SPEC.read_text(encoding="utf-8"))["paths"]
    for path, item in paths.items():
        allowed = sorted(m.upper() for m in item if m != "parameters")
        if method in allowed:
            continue
        concrete = path.replace("{modelId}", "a1b2c3d4-e5f6-7890-abcd-ef1234567890")
        response = api.request(method, concrete)
        assert (response.status_code, response.headers.get("Allow")) == (405, ", ".join(allowed)), (method, path)
        assert response.json()["code"] == "method.not.allowed"


@pytest.fixture
def gateway(make_sandbox: Callable[..., Any], make_api: Callable[..., Any]) -> tuple[Any, Any]:
    sandbox = make_sandbox(rate_limit=1_000_000)
    return sandbox, make_api(sandbox)


# --- schemathesis ----------------------------------------------------------------------------------
#
# Every check schemathesis has (`--checks all`), on every operation of the
# document the sandbox serves. The fault and token endpoints get a sandbox of
# their own: faults they set (10 minutes of latency, every answer dropped) and
# revoked tokens would sabotage the rest of the run. The configuration and
# the hook file say the one thing the document cannot: a schema-valid PUT may
# get 400 for a rule that depends on the model (see schemathesis_hooks.py).

HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
CONFIG = """
[[operations]]
include-operation-id = "putConfiguration"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]
"""
EXAMPLES = 10  # per operation and phase: the whole run takes seconds, not minutes
SELF_SABOTAGING = "^/__sandbox/(faults|tokens)"


def schemathesis_run(sandbox: Any, tmp_path: Path, *selection: str) -> Callable[[], dict[str, Any]]:
    """Start schemathesis against the served document; a function waiting for its JSON report."""
    executable = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    if executable is None:
        pytest.fail("schemathesis is not installed: pip install -e '.[test]'")
    granted = requests.post(
        f"{sandbox.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=("sandbox", "sandbox-secret"), timeout=5
    ).json()
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG, encoding="utf-8")
    report = tmp_path / "report.json"
    arguments = [
        "--config-file", str(config), "run", f"{sandbox.url}/api/v2/docs/openapi.json",
        "--header", f"Authorization: Bearer {granted['access_token']}",
        "--checks", "all", "--max-examples", str(EXAMPLES), "--seed", "1", "--workers", "1",
        "--report", "json", "--report-json-path", str(report), "--no-color", *selection,
    ]  # fmt: skip
    process = subprocess.Popen(
        [executable, *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,  # schemathesis keeps a cache folder in the working directory
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": str(HOOKS)},
    )

    def finished() -> dict[str, Any]:
        try:
            stdout, stderr = process.communicate(timeout=240)
        finally:
            process.kill()  # after a timeout; a no-op once it has exited
        assert report.exists(), stdout[-4000:] + stderr[-2000:]
        found: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
        found["output"] = stdout[-8000:] + stderr[-2000:]
        found["returncode"] = process.returncode
        return found

    return finished


@pytest.mark.slow(reason="schemathesis's every check on every operation, in two runs side by side: about 8 s of CPU")
def test_schemathesis_checks_all_find_no_failure_on_any_operation(make_sandbox: Callable[..., Any], tmp_path: Path) -> None:
    running = schemathesis_run(make_sandbox(rate_limit=1_000_000), tmp_path / "main", "--exclude-path-regex", SELF_SABOTAGING)
    try:
        alone = schemathesis_run(make_sandbox(rate_limit=1_000_000), tmp_path / "alone", "--include-path-regex", SELF_SABOTAGING)()
    finally:
        main = running()
    for run in (main, alone):
        assert (run["failures"], run["errors"], run["test_cases"]["with_failures"]) == ([], [], 0), run["output"]
        assert run["returncode"] == 0 and run["complete"], run["output"]
        assert all(phase["status"] in ("success", "skip") for phase in run["phases"].values()), run["phases"]
    assert main["operations"]["total"] == main["operations"]["tested"] + alone["operations"]["tested"]  # every operation, once
    assert alone["operations"]["tested"] == 4  # GET, POST, DELETE /__sandbox/faults; DELETE /__sandbox/tokens

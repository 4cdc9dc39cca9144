"""The OpenAPI description: valid, served as JSON, and matched by the server's behaviour."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import requests
import yaml

SPEC = Path(__file__).resolve().parents[2] / "schemas" / "gateway-openapi.yaml"


def test_the_description_is_valid_openapi_3() -> None:
    from openapi_spec_validator import validate

    validate(yaml.safe_load(SPEC.read_text(encoding="utf-8")))


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


CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    make_sandbox: Callable[..., Any], tmp_path: Path
) -> None:
    executable = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    if executable is None:
        pytest.fail("schemathesis is not installed: pip install -e '.[test]'")
    sandbox = make_sandbox(rate_limit=1_000_000)
    granted = requests.post(
        f"{sandbox.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=("sandbox", "sandbox-secret"), timeout=5
    ).json()
    result = subprocess.run(
        [
            executable,
            "run",
            f"{sandbox.url}/api/v2/docs/openapi.json",
            "--header",
            f"Authorization: Bearer {granted['access_token']}",
            "--checks",
            CHECKS,
            "--max-examples",
            "10",
            "--seed",
            "1",
            "--workers",
            "1",
            "--phases",
            "examples,coverage,fuzzing",
            # Changing the faults or revoking the token would sabotage the run itself.
            "--exclude-path-regex",
            "^/__sandbox/(faults|tokens)",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,  # schemathesis keeps a cache folder in the working directory
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    assert "failed" not in result.stdout.split("SUMMARY")[-1]

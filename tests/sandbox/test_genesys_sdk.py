"""The official Genesys Cloud Python SDK (PureCloudPlatformClientV2) against
the sandbox: the sandbox speaks the real API well enough for a client nobody
here wrote.  The SDK runs in a child process with its own HOME, since it
reads ``~/.genesyscloudpython/config`` and starts a thread watching it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import requests

SCRIPT = r'''
import json, sys
try:
    from PureCloudPlatformClientV2.api_client import ApiClient
    from PureCloudPlatformClientV2.rest import ApiException
except ImportError as error:
    sys.exit(f"the Genesys Cloud SDK is not installed (pip install -e '.[test]'): {error}")

url, secret = sys.argv[1], sys.argv[2]
client = ApiClient(host=url).get_client_credentials_token("sandbox", secret)
pages, number = [], 1
while True:  # through the SDK's own request path: its auth header, query encoding and deserializer
    page = client.call_api(
        "/api/v2/ai/models", "GET", query_params={"pageSize": 4, "pageNumber": number, "expand": "configuration"},
        header_params={"Accept": "application/json"}, response_type="object", auth_settings=["PureCloud OAuth"],
    )
    pages.append(page)
    if "nextUri" not in page:
        break
    number += 1
try:
    ApiClient(host=url).get_client_credentials_token("sandbox", "not-the-secret")
    refused = None
except ApiException as error:
    refused = {"status": error.status, "body": json.loads(error.body)}
print(json.dumps({"token": bool(client.access_token), "pages": pages, "refused": refused}))
'''


@pytest.mark.slow(reason='the official Genesys SDK in a child process: importing it takes 2 s of CPU')
def test_the_genesys_sdk_logs_in_pages_the_models_and_is_refused_a_wrong_secret(make_sandbox: Callable[..., Any], tmp_path: Path) -> None:
    sandbox = make_sandbox(extra_models=5)  # 11 models: three pages of 4
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, sandbox.url, "sandbox-secret"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path), "NO_PROXY": "*"},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    seen = json.loads(result.stdout)
    assert seen["token"]
    assert [(page["pageNumber"], page["pageCount"], len(page["entities"])) for page in seen["pages"]] == [(1, 3, 4), (2, 3, 4), (3, 3, 3)]
    ids = [entity["id"] for page in seen["pages"] for entity in page["entities"]]
    assert len(set(ids)) == 11
    assert seen["refused"]["status"] == 401
    assert seen["refused"]["body"]["error"] == "invalid_client"
    log = requests.get(f"{sandbox.url}/__sandbox/requests", timeout=5).json()["requests"]
    assert [(entry["method"], entry["path"], entry["status"]) for entry in log] == [
        ("POST", "/oauth/token", 200),
        *[("GET", "/api/v2/ai/models", 200)] * 3,
        ("POST", "/oauth/token", 401),
    ]
    assert all(entry["client_id"] == "sandbox" for entry in log[:4])

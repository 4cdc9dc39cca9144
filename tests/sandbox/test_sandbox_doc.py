"""docs/sandbox.md stays true: every /__sandbox/ endpoint has a curl example,
and every curl example, run in order against a real sandbox, succeeds."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import requests

from planner.sandbox.routing import ADMIN_ROUTES

DOC = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def curl_examples() -> list[list[str]]:
    """The ``curl`` lines of the shell blocks, as argument lists (pipes cut off)."""
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    lines = [line for block in blocks for line in block.splitlines() if line.startswith("curl ")]
    return [shlex.split(line.split(" | ", 1)[0]) for line in lines]


def as_request(words: list[str], base: str) -> tuple[str, str, dict[str, Any]]:
    """A curl command line (the options the doc uses) as (method, url, requests options)."""
    method, url, options = "GET", "", {"headers": {}}
    position = 1
    while position < len(words):
        word = words[position]
        if word == "-s":
            position += 1
            continue
        if word in ("-X", "-H", "-d", "-u"):
            value = words[position + 1]
            if word == "-X":
                method = value
            elif word == "-H":
                name, _, header = value.partition(":")
                options["headers"][name.strip()] = header.strip()
            elif word == "-d":
                options["data"] = value.encode()
            else:
                options["auth"] = tuple(value.split(":", 1))
            position += 2
            continue
        assert word.startswith("$SANDBOX/"), f"an option the doc's examples should not need: {word}"
        url = base + word.removeprefix("$SANDBOX")
        position += 1
    if "data" in options and method == "GET":
        method = "POST"
    return method, url, options


def test_every_admin_endpoint_has_a_curl_example() -> None:
    shown = set()
    for words in curl_examples():
        method, url, _ = as_request(words, "")
        shown.add((method, re.sub(UUID, "{modelId}", url)))
    wanted = {(method, route.pattern.pattern[1:-1].replace("(?P<model_id>[^/]+)", "{modelId}")) for route in ADMIN_ROUTES for method in route.methods}
    assert wanted - shown == set()


def test_every_curl_example_works_in_order_on_a_real_sandbox(sandbox: Any) -> None:
    examples = curl_examples()
    assert len(examples) >= len(ADMIN_ROUTES)
    for words in examples:
        method, url, options = as_request(words, sandbox.url)
        response = requests.request(method, url, timeout=5, **options)
        assert response.status_code == 200, (shlex.join(words), response.text)
        assert response.headers["Content-Type"] == "application/json"

"""The paged model list is read side by side after its first page: 1,000
models cost two round trips, not ten (what makes a large plan and apply fit
the fetch bound).  Every page is read once and every model listed once."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

import requests

from planner.model.catalog import DEMO_MODELS, generated_models

LATENCY_MS = 100


def page_requests(url: str) -> list[dict[str, Any]]:
    log = requests.get(f"{url}/__sandbox/requests", timeout=10).json()["requests"]
    return [entry for entry in log if entry["method"] == "GET" and entry["path"] == "/api/v2/ai/models"]


def arrival(entry: dict[str, Any]) -> float:
    return datetime.strptime(entry["time"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def test_pages_after_the_first_are_read_side_by_side_each_once(make_sandbox: Callable[..., Any], make_client: Callable[..., Any]) -> None:
    sandbox = make_sandbox(rate_limit=100_000, extra_models=994, latency_ms=LATENCY_MS)  # 6 demo + 994 = 10 pages of 100
    client = make_client(sandbox, parallelism=10)

    models = client.list_models()

    expected = [model["id"] for model in DEMO_MODELS] + [model["id"] for model in generated_models(994)]
    assert [model.id for model in models] == expected
    pages = page_requests(sandbox.url)
    assert sorted(entry["query"] for entry in pages) == sorted(f"pageSize=100&pageNumber={n}&expand=configuration" for n in range(1, 11))
    first, *rest = sorted(pages, key=arrival)
    assert first["query"] == "pageSize=100&pageNumber=1&expand=configuration"
    # one after the other, pages 2..10 would arrive over 8 x 100 ms; side by side, within one round trip
    assert arrival(rest[-1]) - arrival(rest[0]) < 4 * LATENCY_MS / 1000, [entry["time"] for entry in rest]


def test_one_worker_follows_next_uri_page_by_page(make_sandbox: Callable[..., Any], make_client: Callable[..., Any]) -> None:
    sandbox = make_sandbox(rate_limit=100_000, extra_models=194)
    client = make_client(sandbox, parallelism=1)

    assert len(client.list_models()) == 200

    pages = page_requests(sandbox.url)
    assert [entry["query"] for entry in pages] == [f"pageSize=100&pageNumber={n}&expand=configuration" for n in (1, 2)]

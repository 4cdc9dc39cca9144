"""A PUT is all or nothing, even when many clients write the same model at once."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import requests

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
CONFIG = f"/api/v2/ai/models/{SUPPORT}/configuration"


def body_for(k: int, **extra: Any) -> dict[str, Any]:
    """A configuration whose every field is derived from ``k``, so a mix of two is visible."""
    return {
        "model_id": SUPPORT,
        "temperature_matrix": {"default": (k % 1000) / 1000, "creative": (k % 1000) / 1000, "precise": (k % 1000) / 2000},
        "safety_filters": [{"filter_type": "pii", "action": "redact", "threshold": k % 100}],
        "max_tokens": k,
        "compliance_mode": "strict",
        **extra,
    }


def consistent(config: dict[str, Any]) -> bool:
    k = config["max_tokens"]
    return config == {**body_for(k), "version": config["version"], "modifiedDate": config["modifiedDate"], "selfUri": CONFIG}


def run_together(count: int, work: Callable[[int, requests.Session], requests.Response], url: str, token: str) -> list[requests.Response]:
    """``count`` threads, each with its own keep-alive session, released at once."""
    barrier = threading.Barrier(count)

    def one(index: int) -> requests.Response:
        with requests.Session() as session:
            session.trust_env = False
            session.headers["Authorization"] = f"Bearer {token}"
            session.get(f"{url}/api/v2/ai/models/{SUPPORT}", timeout=10)  # connect before the race
            barrier.wait(timeout=10)
            return work(index, session)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def test_of_many_writers_holding_the_same_version_exactly_one_wins(make_sandbox: Callable[..., Any], make_api: Callable[..., Any]) -> None:
    sandbox = make_sandbox(rate_limit=100_000)
    api = make_api(sandbox)
    assert api.put_config(SUPPORT, body_for(1000)).json()["version"] == 1

    responses = run_together(
        16, lambda i, s: s.put(f"{sandbox.url}{CONFIG}", json=body_for(2000 + i, version=1), timeout=10), sandbox.url, api.token
    )

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {200: 1, 409: 15}
    winner = next(response.json() for response in responses if response.status_code == 200)
    assert winner["version"] == 2
    assert api.get(CONFIG).json() == winner


def test_concurrent_writes_never_mix_two_bodies_and_each_gets_its_own_version(
    make_sandbox: Callable[..., Any], make_api: Callable[..., Any]
) -> None:
    sandbox = make_sandbox(rate_limit=100_000)
    api = make_api(sandbox)

    def five_puts(index: int, session: requests.Session) -> list[requests.Response]:
        return [session.put(f"{sandbox.url}{CONFIG}", json=body_for(100 * (index + 1) + n), timeout=10) for n in range(5)]

    batches = run_together(8, five_puts, sandbox.url, api.token)  # type: ignore[arg-type]
    responses = [response for batch in batches for response in batch]  # type: ignore[union-attr]

    assert all(response.status_code == 200 for response in responses)
    assert sorted(response.json()["version"] for response in responses) == list(range(1, 41))
    assert all(consistent(response.json()) for response in responses)
    final = api.get(CONFIG).json()
    assert final["version"] == 40
    assert consistent(final)


def test_rejected_puts_racing_accepted_ones_change_nothing(make_sandbox: Callable[..., Any], make_api: Callable[..., Any]) -> None:
    sandbox = make_sandbox(rate_limit=100_000)
    api = make_api(sandbox)

    def put(index: int, session: requests.Session) -> requests.Response:
        # Even writers send a valid body; odd ones break the capability limit (5000 > 4096).
        k = 1000 + index if index % 2 == 0 else 5000
        return session.put(f"{sandbox.url}{CONFIG}", json=body_for(k), timeout=10)

    responses = run_together(12, put, sandbox.url, api.token)

    assert [response.status_code for response in responses] == [200, 400] * 6
    final = api.get(CONFIG).json()
    assert final["version"] == 6
    assert final["max_tokens"] in {1000, 1002, 1004, 1006, 1008, 1010}
    assert consistent(final)


def test_the_server_keeps_serving_many_connections_at_once(make_sandbox: Callable[..., Any], make_api: Callable[..., Any]) -> None:
    sandbox = make_sandbox(rate_limit=100_000)
    api = make_api(sandbox)

    def twenty_reads(index: int, session: requests.Session) -> list[int]:
        return [session.get(f"{sandbox.url}/api/v2/ai/models?pageSize=5", timeout=10).status_code for _ in range(20)]

    results = run_together(24, twenty_reads, sandbox.url, api.token)  # type: ignore[arg-type]
    assert [status for batch in results for status in batch] == [200] * 480  # type: ignore[union-attr]

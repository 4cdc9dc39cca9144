"""Each kind of injected fault, its scope, and its reproducibility."""

from __future__ import annotations

import time
from typing import Any, Callable

import pytest
import requests

from planner.sandbox.faults import FaultInjector, FaultSettings, InvalidFaults

SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
MODEL = f"/api/v2/ai/models/{SUPPORT}"
CONFIG = f"{MODEL}/configuration"


def set_faults(sandbox: Any, **settings: Any) -> dict[str, Any]:
    response = requests.post(f"{sandbox.url}/__sandbox/faults", json=settings, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def gateway(make_sandbox: Callable[..., Any], make_api: Callable[..., Any]) -> tuple[Any, Any]:
    sandbox = make_sandbox(rate_limit=100_000)
    return sandbox, make_api(sandbox)


# --- status answers ------------------------------------------------------------------------


def test_a_share_of_503s_is_the_same_for_the_same_seed(make_sandbox: Callable[..., Any], make_api: Callable[..., Any]) -> None:
    def statuses(seed: int) -> list[int]:
        sandbox = make_sandbox(rate_limit=100_000)
        api = make_api(sandbox)
        set_faults(sandbox, seed=seed, rules=[{"effect": "status", "status": 503, "share": 0.3}])
        return [api.get(MODEL).status_code for _ in range(60)]

    first, again, other = statuses(7), statuses(7), statuses(8)
    assert first == again
    assert first != other
    assert set(first) == {200, 503}
    assert 5 <= first.count(503) <= 35  # about 30 % of 60


def test_a_count_of_429s_hits_exactly_the_first_n_requests(gateway: tuple[Any, Any]) -> None:
    sandbox, api = gateway
    set_faults(sandbox, rules=[{"effect": "status", "status": 429, "retry_after": 2, "count": 3}])
    responses = [api.get(MODEL) for _ in range(5)]
    assert [r.status_code for r in responses] == [429, 429, 429, 200, 200]
    assert responses[0].headers["Retry-After"] == "2"
    assert responses[0].json()["code"] == "too.many.requests"
    assert responses[0].headers["inin-ratelimit-count"] == "0"  # headers as every API answer, but not counted


def test_injected_answers_carry_the_clients_window_without_counting_in_it(make_sandbox: Callable[..., Any], make_api: Callable[..., Any], clock: Any) -> None:
    sandbox = make_sandbox(rate_limit=5, rate_window_seconds=60, clock=clock)
    api = make_api(sandbox)
    set_faults(sandbox, rate_limit={"requests": 5, "window_seconds": 60}, rules=[
        {"match": {"method": "PUT"}, "effect": "status", "status": 503},
        {"effect": "status", "status": 503, "count": 1},
        {"effect": "status", "status": 429, "count": 1},
    ])

    def window(response: requests.Response) -> tuple[int, str, str, str]:
        headers = response.headers
        return response.status_code, headers["inin-ratelimit-allowed"], headers["inin-ratelimit-count"], headers["inin-ratelimit-reset"]

    assert window(api.get(MODEL)) == (503, "5", "0", "60")  # no window open yet: nothing counted, a full window ahead
    assert window(api.get(MODEL)) == (429, "5", "0", "60")  # an injected 429 shows a budget not spent
    assert window(api.get(MODEL)) == (200, "5", "1", "60")  # the first counted request opens the window
    clock.advance(20.5)
    assert window(api.put(CONFIG, json={})) == (503, "5", "1", "40")  # the window as it stands, 20.5 s in
    assert window(api.get(MODEL)) == (200, "5", "2", "40")  # the 503 did not count


@pytest.mark.parametrize("status", [429, 503])
def test_injected_answers_match_the_openapi_headers(gateway: tuple[Any, Any], status: int) -> None:
    sandbox, api = gateway
    set_faults(sandbox, rules=[{"effect": "status", "status": status, "retry_after": 1, "count": 1}])
    response = api.get(MODEL)
    assert response.status_code == status
    document = requests.get(f"{sandbox.url}/api/v2/docs/openapi.json", timeout=5).json()
    name = {429: "TooManyRequests", 503: "ServiceUnavailable"}[status]
    for header, spec in document["components"]["responses"][name]["headers"].items():
        target = document["components"]["headers"][spec["$ref"].rsplit("/", 1)[1]]
        if target.get("required"):
            assert header in response.headers, header
            assert int(response.headers[header]) >= target["schema"]["minimum"]


def test_without_retry_after_an_injected_429_has_no_retry_after_header(gateway: tuple[Any, Any]) -> None:
    sandbox, api = gateway
    set_faults(sandbox, rules=[{"effect": "status", "status": 429, "count": 1}])
    response = api.get(MODEL)
    assert response.status_code == 429
    assert "Retry-After" not in response.headers


def test_a_fractional_retry_after_is_rounded_up(gateway: tuple[Any, Any]) -> None:
    sandbox, api = gateway
    set_faults(sandbox, rules=[{"effect": "status", "status": 503, "retry_after": 0.2, "count": 1}])
    assert api.get(MODEL).headers["Retry-After"] == "1"


@pytest.mark.parametrize("status", [400, 418, 500, 502, 504, 599])
def test_any_error_status_can_be_injected_with_the_error_body(gateway: tuple[Any, Any], status: int) -> None:
    sandbox, api = gateway
    set_faults(sandbox, rules=[{"effect": "status", "status": status, "count": 1}])
    response = api.get(MODEL)
    assert response.status_code == status
    assert response.json()["status"] == status


def test_a_rule_can_match_a_method_and_a_path(gateway: tuple[Any, Any], valid_config: Callable[..., dict[str, Any]]) -> None:
    sandbox, api = gateway
    set_faults(sandbox, rules=[{"match": {"method": "put", "path": "/api/v2/ai/models/*"}, "effect": "status", "status": 503}])
    assert api.get(MODEL).status_code == 200
    assert api.get(CONFIG).status_code == 404  # a GET on the same path is not matched
    assert api.put_config(SUPPORT, valid_config()).status_code == 503
    assert api.get(CONFIG).status_code == 404  # the refused PUT changed nothing


def test_rules_are_tried_in_order_and_counters_are_shown(gateway: tuple[Any, Any]) -> None:
    sandbox, api = gateway
    set_faults(
        sandbox,
        rules=[
            {"effect": "status", "status": 429, "count": 2},
            {"effect": "status", "status": 503, "count": 1},
        ],
    )
    assert [api.get(MODEL).status_code for _ in range(4)] == [429, 429, 503, 200]
    shown = requests.get(f"{sandbox.url}/__sandbox/faults", timeout=5).json()
    assert [(rule["fired"], rule["matched"]) for rule in shown["rules"]] == [(2, 2), (1, 1)]


def test_a_global_rule_leaves_tokens_docs_and_admin_endpoints_alone(gateway: tuple[Any, Any]) -> None:
    sandbox, api = gateway
    set_faults(sandbox, rules=[{"effect": "status", "status": 503}])
    assert api.get(MODEL).status_code == 503
    assert api.fetch_token()  # the token endpoint still answers
    assert requests.get(f"{sandbox.url}/api/v2/docs/openapi.json", timeout=5).status_code == 200
    assert requests.get(f"{sandbox.url}/__sandbox/requests", timeout=5).status_code == 200
    assert requests.delete(f"{sandbox.url}/__sandbox/faults", timeout=5).status_code == 200
    assert api.get(MODEL).status_code == 200


def test_a_rule_with_the_token_path_breaks_login(gateway: tuple[Any, Any]) -> None:
    sandbox, _ = gateway
    set_faults(sandbox, rules=[{"match": {"path": "/oauth/token"}, "effect": "status", "status": 503, "count": 1}])
    token = lambda: requests.post(  # noqa: E731
        f"{sandbox.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=("sandbox", "sandbox-secret"), timeout=5
    )
    assert [token().status_code, token().status_code] == [503, 200]


def test_the_webhook_receiver_fails_when_told_then_records_again(sandbox: Any) -> None:
    hook = f"{sandbox.url}/__sandbox/webhook"
    set_faults(sandbox, rules=[{"match": {"path": "/__sandbox/webhook"}, "effect": "status", "status": 500, "count": 3}])
    statuses = [requests.post(hook, json={"n": n}, timeout=5).status_code for n in range(4)]
    assert statuses == [500, 500, 500, 200]
    assert [delivery["body"] for delivery in requests.get(hook, timeout=5).json()["deliveries"]] == [{"n": 3}]


# --- transport faults --------------------------------------------------------------------------


def test_a_dropped_connection_gets_no_answer_and_the_server_lives_on(gateway: tuple[Any, Any]) -> None:
    sandbox, api = gateway
    set_faults(sandbox, rules=[{"effect": "drop", "count": 1}])
    with pytest.raises(requests.ConnectionError):
        api.get(MODEL)
    assert api.get(MODEL).status_code == 200
    log = requests.get(f"{sandbox.url}/__sandbox/requests", timeout=5).json()["requests"]
    assert [entry["status"] for entry in log if entry["path"] == MODEL] == [None, 200]


def test_a_slow_body_sends_headers_first_and_trips_a_read_timeout(gateway: tuple[Any, Any]) -> None:
    sandbox, api = gateway
    set_faults(sandbox, rules=[{"effect": "slow_body", "delay_ms": 400, "count": 2}])
    started = time.monotonic()
    streamed = api.get(MODEL, stream=True)
    assert streamed.status_code == 200  # the headers came at once
    assert streamed.json()["id"] == SUPPORT  # the body came later
    assert time.monotonic() - started >= 0.4
    with pytest.raises(requests.ConnectionError):  # urllib3's read timeout surfaces as a ConnectionError
        api.get(MODEL, timeout=(5, 0.1))
    assert api.get(MODEL).status_code == 200


def test_latency_delays_every_api_answer(gateway: tuple[Any, Any]) -> None:
    sandbox, api = gateway
    set_faults(sandbox, latency_ms=150)
    started = time.monotonic()
    assert api.get(MODEL).status_code == 200
    assert time.monotonic() - started >= 0.15
    set_faults(sandbox, latency_ms=60_000)  # an API answer would now take a minute: no busy machine comes close
    started = time.monotonic()
    requests.get(f"{sandbox.url}/__sandbox/requests", timeout=120)
    assert time.monotonic() - started < 30  # the admin endpoints are not delayed


def test_the_token_lifetime_can_be_changed(gateway: tuple[Any, Any]) -> None:
    sandbox, _ = gateway
    set_faults(sandbox, token_lifetime_seconds=5)
    response = requests.post(f"{sandbox.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=("sandbox", "sandbox-secret"), timeout=5)
    assert response.json()["expires_in"] == 5


# --- settings -------------------------------------------------------------------------------------


def test_post_replaces_the_settings_and_delete_restores_the_start_values(make_sandbox: Callable[..., Any]) -> None:
    sandbox = make_sandbox(latency_ms=1, rate_limit=50, faults={"rules": [{"effect": "status", "status": 503, "share": 0.1}]})
    start = requests.get(f"{sandbox.url}/__sandbox/faults", timeout=5).json()
    assert start["rate_limit"] == {"requests": 50, "window_seconds": 60.0}
    assert [rule["status"] for rule in start["rules"]] == [503]
    changed = set_faults(sandbox, seed=3, rules=[])
    assert (changed["seed"], changed["rules"], changed["latency_ms"]) == (3, [], 1)  # keys left out keep their start values
    restored = requests.delete(f"{sandbox.url}/__sandbox/faults", timeout=5).json()
    assert (restored["seed"], [rule["status"] for rule in restored["rules"]]) == (0, [503])


def test_invalid_settings_get_400_listing_every_problem_and_change_nothing(sandbox: Any) -> None:
    response = requests.post(
        f"{sandbox.url}/__sandbox/faults",
        json={"latency_ms": -1, "rules": [{"effect": "status"}, {"effect": "explode"}, {"effect": "drop", "share": 2}], "colour": 1},
        timeout=5,
    )
    assert response.status_code == 400
    fields = sorted(detail["fieldName"] for error in response.json()["errors"] for detail in error["details"])
    assert fields == ["colour", "latency_ms", "rules[0]", "rules[1].effect", "rules[2].share"]
    assert requests.get(f"{sandbox.url}/__sandbox/faults", timeout=5).json()["latency_ms"] == 0


# --- the injector alone ---------------------------------------------------------------------------


def test_decisions_and_jitter_depend_only_on_the_seed() -> None:
    settings = FaultSettings(seed=42, latency_ms=50, latency_jitter_ms=20).updated(
        {"rules": [{"effect": "status", "status": 503, "share": 0.5}]}
    )

    def run(injector: FaultInjector) -> tuple[list[bool], list[float]]:
        fired = [injector.decide("GET", MODEL) is not None for _ in range(30)]
        delays = [injector.latency_seconds() for _ in range(10)]
        return fired, delays

    first, second = run(FaultInjector(settings)), run(FaultInjector(settings))
    assert first == second
    assert all(0.030 <= delay <= 0.070 for delay in first[1])
    assert len(set(first[1])) > 1  # jitter varies


def test_settings_errors_name_the_field() -> None:
    with pytest.raises(InvalidFaults) as raised:
        FaultSettings().updated({"rules": [{"effect": "slow_body"}]})
    assert [v.field for v in raised.value.violations] == ["rules[0]"]
    assert "delay_ms" in str(raised.value)

"""A canary client secret in the environment shows up nowhere: output, DEBUG logs, errors, reprs."""

from __future__ import annotations

import base64
import logging
import os
import re
import traceback
from typing import Any

import pytest
import requests

from planner.adapters.gateway.breaker import CircuitBreaker
from planner.adapters.gateway.client import GatewayClient, Timeouts
from planner.adapters.gateway.endpoints import Endpoint, credentials_from_env
from planner.adapters.gateway.retry import RetryPolicy
from planner.model.errors import LlmplanError

CANARY = "canary-5ecret-7d1f0c9a"
WRONG_CANARY = "canary-wrong-5ecret-44b2"
SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"


def test_the_canary_secret_never_leaks(make_sandbox: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    from planner.sandbox import ClientSpec

    sandbox = make_sandbox(
        rate_limit=100_000,
        clients={"canary-client": ClientSpec(CANARY, frozenset({"ai:models:read"}))},
    )
    monkeypatch.setenv("GENESYSCLOUD_OAUTHCLIENT_ID", "canary-client")
    monkeypatch.setenv("GENESYSCLOUD_OAUTHCLIENT_SECRET", CANARY)
    caplog.set_level(logging.DEBUG)  # every logger, urllib3 included
    credentials = credentials_from_env(os.environ)
    endpoint = Endpoint(sandbox.url, sandbox.url)
    fast = RetryPolicy(backoff_base=0.01, backoff_cap=0.02, unavailable=2)
    seen: list[str] = [repr(credentials), str(credentials)]

    def record(error: BaseException) -> None:
        seen.extend([str(error), repr(error), getattr(error, "hint", "") or "", "".join(traceback.format_exception(error))])
        if isinstance(error, LlmplanError):
            seen.append(repr(vars(error)))

    with GatewayClient(endpoint, credentials, retry=fast, timeouts=Timeouts(connect=1, attempt=0.3), breaker=CircuitBreaker(failure_threshold=3)) as client:
        seen.append(repr(client))
        client.list_models()
        client.get_configuration(SUPPORT)
        tokens = [client._tokens.get()]  # noqa: SLF001 - the test must know the token to look for it
        admin = requests.Session()
        admin.trust_env = False
        faults = f"{sandbox.url}/__sandbox/faults"
        scenarios = [
            lambda: client.put_configuration(SUPPORT, {"model_id": SUPPORT, "max_tokens": 1}, None),  # 403 (read-only scope)
            lambda: client.get_model("not-a-uuid"),
        ]
        for scenario in scenarios:
            with pytest.raises(LlmplanError) as caught:
                scenario()
            record(caught.value)
        for rules in (
            [{"match": {"path": "/api/v2/ai/models/*"}, "effect": "status", "status": 401}],  # re-auth, then fail
            [{"effect": "drop"}],
            [{"effect": "status", "status": 503}],  # opens the breaker
        ):
            admin.post(faults, json={"rules": rules}, timeout=5).raise_for_status()
            for _ in range(2):
                with pytest.raises(LlmplanError) as caught:
                    client.get_model(SUPPORT)
                record(caught.value)
            tokens.append(client._tokens.get())  # noqa: SLF001
        admin.delete(faults, timeout=5)
        admin.close()

    wrong = credentials.__class__("canary-client", WRONG_CANARY)
    with GatewayClient(endpoint, wrong, retry=fast) as client:
        with pytest.raises(LlmplanError) as caught:
            client.get_model(SUPPORT)
        record(caught.value)
        seen.append(repr(client))

    output = capsys.readouterr()
    logs = caplog.text + "\n".join(str(record.args) for record in caplog.records)
    everything = "\n".join([output.out, output.err, logs, *seen])
    basic = base64.b64encode(f"canary-client:{CANARY}".encode()).decode()
    assert "Bearer ***" in logs  # the requests were logged, redacted
    assert len(set(tokens)) >= 2  # the 401s made it fetch new ones
    fragments = [token[:12] for token in tokens]  # a truncated token is still a leak
    for secret in (CANARY, WRONG_CANARY, basic, "5ecret", *tokens, *fragments):
        assert secret not in everything
    assert not re.search(r"Bearer (?!\*\*\*)\S", everything)  # no token after any Bearer
    assert not re.search(r"Basic (?!\*\*\*)\S", everything)

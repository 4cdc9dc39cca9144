"""PUTs through one GatewayClient against a rate-limited sandbox: elapsed against what the budget allows.

The sandbox answers every request after 50 ms; 10 threads share one client
(parallelism 10), as the apply engine does.  Scenarios:

- ``burst``: 1,000 PUTs under 100 requests per 1 s window (the issue's
  benchmark).  Goal: elapsed ≤ 1.10 × max(N / rate, N × RTT / parallelism)
  = 11 s, and ≤ 1 % of PUTs answered 429.
- ``minute``: 100 PUTs under the contract's default 300 requests per 60 s.
  The budget allows all of them at once, so only the round trips count:
  100 × 50 ms / 10 = 0.5 s.  Goal: under 1 s (a pacer spreading requests
  over the window takes 20 s), no 429.
- ``long`` (only with ``--long``, about three minutes): 1,000 PUTs under 300
  per 60 s.  No client can beat the fixed-window bound, three windows spent
  and the rest sent at full parallelism (180.5 s).  Goal: ≤ 1.05 × that
  bound, ≤ 1 % 429s.

429s are counted in the sandbox's own request log.

Measured on the 2-core development machine (Python 3.11, sandbox in a
subprocess), window-aware pacer against the steady-pace (GCRA) one before it:

    scenario  before                 after
    burst     10.48-10.51 s, 0 429   10.41 s, 0 429
    minute    19.99 s, 0 429         0.73 s, 0 429
    long      205.57 s, 0 429        181.83 s, 0 429

    .venv/bin/python -m benchmarks.apply_put_throughput [--sandbox subprocess] [--long] [--only NAME]

``--sandbox subprocess`` runs the sandbox as ``python -m planner sandbox
serve`` in its own process, so the server and the client do not share one
interpreter's GIL; the default runs it in-process.  Results go to
``benchmarks/results/apply_put_throughput.json``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import requests

from benchmarks._common import finish, sandbox_process  # noqa: E402
from planner.adapters.gateway.client import GatewayClient  # noqa: E402
from planner.adapters.gateway.endpoints import Credentials, Endpoint  # noqa: E402
from planner.model.catalog import generated_model_id  # noqa: E402

LATENCY_MS = 50.0
PARALLELISM = 10


@dataclass(frozen=True)
class Scenario:
    name: str
    puts: int
    allowed: int  # requests per window
    window_seconds: float
    goal: str  # which bound the goal is measured against: "steady" or "fixed-window"
    goal_ratio: float
    goal_seconds: float | None = None  # an absolute ceiling, when the ratio is not the point

    def steady_rate_bound(self) -> float:
        """Sending at the average rate the budget allows, or at full parallelism if slower."""
        return max(self.puts * self.window_seconds / self.allowed, self.round_trip_bound(self.puts))

    def fixed_window_bound(self) -> float:
        """Every window but the last spent in full, the last at full parallelism (nothing is faster)."""
        windows = math.ceil(self.puts / self.allowed)
        last = self.puts - (windows - 1) * self.allowed
        return max((windows - 1) * self.window_seconds + self.round_trip_bound(last), self.round_trip_bound(self.puts))

    @staticmethod
    def round_trip_bound(count: int) -> float:
        return math.ceil(count / PARALLELISM) * LATENCY_MS / 1000


SCENARIOS = {
    "burst": Scenario("burst", puts=1000, allowed=100, window_seconds=1.0, goal="steady", goal_ratio=1.10),
    "minute": Scenario("minute", puts=100, allowed=300, window_seconds=60.0, goal="fixed-window", goal_ratio=2.0, goal_seconds=1.0),
    "long": Scenario("long", puts=1000, allowed=300, window_seconds=60.0, goal="fixed-window", goal_ratio=1.05),
}


@contextmanager
def sandbox_in_process(scenario: Scenario) -> Iterator[str]:
    from planner.sandbox import start_sandbox

    with start_sandbox(
        extra_models=scenario.puts, latency_ms=LATENCY_MS, rate_limit=scenario.allowed, rate_window_seconds=scenario.window_seconds
    ) as sandbox:
        yield sandbox.url


@contextmanager
def sandbox_subprocess(scenario: Scenario) -> Iterator[str]:
    with sandbox_process(
        "--models", str(scenario.puts), "--latency-ms", str(LATENCY_MS), "--rate-limit", str(scenario.allowed), "--rate-window", str(scenario.window_seconds)
    ) as sandbox:
        yield sandbox.url


def configuration(model_id: str, index: int) -> dict[str, Any]:
    return {
        "model_id": model_id,
        "temperature_matrix": {"default": 0.5, "creative": 1.1, "precise": 0.2},
        "safety_filters": [{"filter_type": "pii", "action": "redact", "threshold": 80 + index % 20}],
        "max_tokens": 1024 + index % 1024,
        "compliance_mode": "standard",
    }


def run(scenario: Scenario, mode: str) -> dict[str, Any]:
    starter = sandbox_subprocess if mode == "subprocess" else sandbox_in_process
    with starter(scenario) as url:
        work = [(generated_model_id(i), i) for i in range(1, scenario.puts + 1)]
        client = GatewayClient(Endpoint(url, url), Credentials("sandbox", "sandbox-secret"), parallelism=PARALLELISM)
        with client, ThreadPoolExecutor(PARALLELISM) as pool:
            started = time.monotonic()  # the token request is part of the run, as in an apply
            versions = list(pool.map(lambda item: client.put_configuration(item[0], configuration(*item), None)["version"], work))
            elapsed = time.monotonic() - started
            stats = client.stats()
            learnt = client.pacer.budget
        log = requests.get(f"{url}/__sandbox/requests", timeout=10).json()["requests"]
    puts = [entry for entry in log if entry["method"] == "PUT"]
    statuses = Counter(entry["status"] for entry in puts)
    bound = scenario.steady_rate_bound() if scenario.goal == "steady" else scenario.fixed_window_bound()
    share_429 = statuses.get(429, 0) / max(len(puts), 1)
    applied = sum(1 for version in versions if version >= 1)
    ok = elapsed / bound <= scenario.goal_ratio and share_429 <= 0.01 and applied == scenario.puts
    if scenario.goal_seconds is not None:
        ok = ok and elapsed <= scenario.goal_seconds
    return {
        "scenario": scenario.name,
        "puts": scenario.puts,
        "applied": applied,
        "rate_limit": {"requests": scenario.allowed, "window_seconds": scenario.window_seconds},
        "elapsed_seconds": round(elapsed, 3),
        "steady_rate_bound_seconds": round(scenario.steady_rate_bound(), 3),
        "fixed_window_bound_seconds": round(scenario.fixed_window_bound(), 3),
        "goal": f"elapsed <= {scenario.goal_ratio} x {scenario.goal} bound"
        + (f" and <= {scenario.goal_seconds} s" if scenario.goal_seconds is not None else "")
        + ", 429s <= 1 %",
        "bound_seconds": round(bound, 3),
        "ratio": round(elapsed / bound, 3),
        "put_requests": len(puts),
        "put_statuses": {str(key): value for key, value in sorted(statuses.items(), key=lambda kv: str(kv[0]))},
        "share_429": round(share_429, 4),
        "token_requests": stats.token_fetches,
        "retries": stats.retries,
        "pacing_wait_seconds": round(stats.pacing_wait_seconds, 2),
        "learnt_budget": list(learnt) if learnt else None,
        "ok": ok,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sandbox", choices=("in-process", "subprocess"), default="in-process")
    parser.add_argument("--long", action="store_true", help="also run 1,000 PUTs at 300 per 60 s (about three minutes)")
    parser.add_argument("--only", choices=sorted(SCENARIOS), help="run this scenario alone")
    options = parser.parse_args()
    names = [options.only] if options.only else ["burst", "minute"] + (["long"] if options.long else [])
    results = []
    for name in names:
        result = run(SCENARIOS[name], options.sandbox)
        results.append(result)
        print(
            f"{name}: {result['puts']} PUTs at {result['rate_limit']['requests']} per {result['rate_limit']['window_seconds']:g} s "
            f"in {result['elapsed_seconds']:.2f} s, bound {result['bound_seconds']:.2f} s, ratio {result['ratio']:.3f}; "
            f"429s {result['put_statuses'].get('429', 0)} of {result['put_requests']} PUT requests = {result['share_429'] * 100:.2f} %; "
            f"goal: {result['goal']}; {'OK' if result['ok'] else 'GOAL MISSED'}",
            flush=True,
        )
    report = {"sandbox": options.sandbox, "parallelism": PARALLELISM, "latency_ms": LATENCY_MS, "scenarios": results}
    figure = "; ".join(f"{result['scenario']} {result['elapsed_seconds']:.2f} s = {result['ratio']:.3f} x bound, 429s {result['share_429'] * 100:.2f} %" for result in results)
    goal = "; ".join(f"{result['scenario']} {result['goal']}" for result in results)
    return finish("apply_put_throughput", figure, goal, all(result["ok"] for result in results), report)


if __name__ == "__main__":
    raise SystemExit(main())

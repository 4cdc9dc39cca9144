"""1,000 PUTs through one GatewayClient at the sandbox's rate limit: elapsed against the physical bound.

The sandbox answers after 50 ms and allows 100 requests per second per
client; 10 threads share one client (parallelism 10), as the apply engine
does.  Nothing can beat max(N / rate, N * RTT / parallelism) = 10 s, so the
figure is elapsed / bound (goal ≤ 1.10) and the share of PUTs answered 429
(goal ≤ 1 %), counted in the sandbox's own request log.

    .venv/bin/python benchmarks/apply_put_throughput.py [--sandbox subprocess] [--count N]

``--sandbox subprocess`` runs the sandbox as ``python -m planner sandbox
serve`` in its own process, so the server and the client do not share one
interpreter's GIL; the default runs it in-process.  Results go to
``benchmarks/results/apply_put_throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from planner.catalog import generated_model_id  # noqa: E402
from planner.gateway.client import GatewayClient  # noqa: E402
from planner.gateway.endpoints import Credentials, Endpoint  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "apply_put_throughput.json"
LATENCY_MS = 50.0
RATE = 100  # requests per window
WINDOW_SECONDS = 1.0
PARALLELISM = 10


@contextmanager
def sandbox_in_process(models: int) -> Iterator[str]:
    from planner.sandbox import start_sandbox

    with start_sandbox(extra_models=models, latency_ms=LATENCY_MS, rate_limit=RATE, rate_window_seconds=WINDOW_SECONDS) as sandbox:
        yield sandbox.url


@contextmanager
def sandbox_subprocess(models: int) -> Iterator[str]:
    command = [
        sys.executable, "-m", "planner", "sandbox", "serve", "--port", "0", "--models", str(models),
        "--latency-ms", str(LATENCY_MS), "--rate-limit", str(RATE), "--rate-window", str(WINDOW_SECONDS),
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        url = None
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            found = re.search(r"listening on (http://\S+)", line)
            url = found.group(1) if found else None
        if url is None:
            raise SystemExit("the sandbox subprocess did not print 'listening on http://HOST:PORT'")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def configuration(model_id: str, index: int) -> dict[str, Any]:
    return {
        "model_id": model_id,
        "temperature_matrix": {"default": 0.5, "creative": 1.1, "precise": 0.2},
        "safety_filters": [{"filter_type": "pii", "action": "redact", "threshold": 80 + index % 20}],
        "max_tokens": 1024 + index % 1024,
        "compliance_mode": "standard",
    }


def run(count: int, mode: str) -> dict[str, Any]:
    starter = sandbox_subprocess if mode == "subprocess" else sandbox_in_process
    with starter(count) as url:
        work = [(generated_model_id(i), i) for i in range(1, count + 1)]
        client = GatewayClient(Endpoint(url, url), Credentials("sandbox", "sandbox-secret"), parallelism=PARALLELISM)
        with client, ThreadPoolExecutor(PARALLELISM) as pool:
            started = time.monotonic()
            versions = list(pool.map(lambda item: client.put_configuration(item[0], configuration(*item), None)["version"], work))
            elapsed = time.monotonic() - started
            stats = client.stats()
            learnt = client.pacer.budget
        log = requests.get(f"{url}/__sandbox/requests", timeout=10).json()["requests"]
    puts = [entry for entry in log if entry["method"] == "PUT"]
    statuses = Counter(entry["status"] for entry in puts)
    bound = max(count / (RATE / WINDOW_SECONDS), count * (LATENCY_MS / 1000) / PARALLELISM)
    return {
        "benchmark": "apply_put_throughput",
        "sandbox": mode,
        "puts": count,
        "applied": sum(1 for version in versions if version >= 1),
        "parallelism": PARALLELISM,
        "latency_ms": LATENCY_MS,
        "rate_limit": {"requests": RATE, "window_seconds": WINDOW_SECONDS},
        "elapsed_seconds": round(elapsed, 3),
        "bound_seconds": bound,
        "ratio": round(elapsed / bound, 3),
        "goal_ratio": 1.10,
        "put_requests": len(puts),
        "put_statuses": {str(key): value for key, value in sorted(statuses.items(), key=lambda kv: str(kv[0]))},
        "share_429": round(statuses.get(429, 0) / max(len(puts), 1), 4),
        "goal_share_429": 0.01,
        "token_requests": stats.token_fetches,
        "retries": stats.retries,
        "pacing_wait_seconds": round(stats.pacing_wait_seconds, 2),
        "learnt_budget": list(learnt) if learnt else None,
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "processor": platform.processor() or platform.machine()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=1000, help="PUTs to send (default 1000)")
    parser.add_argument("--sandbox", choices=("in-process", "subprocess"), default="in-process")
    options = parser.parse_args()
    result = run(options.count, options.sandbox)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    ok = result["ratio"] <= result["goal_ratio"] and result["share_429"] <= result["goal_share_429"] and result["applied"] == result["puts"]
    print(
        f"apply_put_throughput: {result['puts']} PUTs in {result['elapsed_seconds']:.2f} s, bound {result['bound_seconds']:.1f} s, "
        f"ratio {result['ratio']:.3f} (goal <= 1.10); 429s {result['put_statuses'].get('429', 0)} of {result['put_requests']} PUT requests "
        f"= {result['share_429'] * 100:.2f} % (goal <= 1 %); sandbox {result['sandbox']}; {'OK' if ok else 'GOAL MISSED'}"
    )
    print(f"results: {RESULTS.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

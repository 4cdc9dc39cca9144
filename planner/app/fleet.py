"""One command over several environments, side by side.

Each environment runs as it would alone (its own records, its own gateway
client with its own pacing and deadlines) on a small pool of threads, so ten
environments behind a slow gateway take about the time of the slowest few,
not the sum. An environment that fails is recorded as failed and the others
go on: the report shows every one, the failure in its own section.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence, TypeVar

from planner.model.errors import LlmplanError
from planner.model.fleet import EnvironmentResult

T = TypeVar("T")

# Environments at once, as Terraform's -parallelism defaults to 10. A plan or a drift check is
# mostly waiting on its gateway (a token, the model list, the configurations: round trips, not
# CPU), so ten overlap their waits: 10 environments at 300 ms latency take 1.1 x one environment
# (benchmarks/plan_10_envs.py), where 4 at a time took 1.9 x. The bound keeps a fleet of 30
# regions from opening 30 sets of connections at once.
DEFAULT_WORKERS = 10


def run_each(names: Sequence[str], work: Callable[[str], EnvironmentResult[T]], *, workers: int = DEFAULT_WORKERS) -> list[EnvironmentResult[T]]:
    """``work(name)`` for every environment, at most ``workers`` at a time; the results in the order of ``names``.

    An expected failure (:class:`LlmplanError`) becomes that environment's
    error. Anything else is a bug: raised once every environment is done.
    A Ctrl-C reaches the main thread, which stops scheduling; the gateway
    clients of the running ones are cut by the CLI's signal handling.
    """
    if len(names) == 1:
        return [_guarded(work, names[0])]
    results: dict[str, EnvironmentResult[T]] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(names))), thread_name_prefix="llmplan-env")
    try:
        futures = {name: pool.submit(_guarded, work, name) for name in names}
        for name, future in futures.items():
            results[name] = future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return [results[name] for name in names]


def _guarded(work: Callable[[str], EnvironmentResult[T]], name: str) -> EnvironmentResult[T]:
    thread = threading.current_thread()
    previous = thread.name
    thread.name = f"llmplan-env-{name}"  # in --debug logs, which environment a line is about
    try:
        return work(name)
    except LlmplanError as error:
        return EnvironmentResult(name, error=error)
    finally:
        thread.name = previous

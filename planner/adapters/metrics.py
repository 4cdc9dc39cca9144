"""Apply metrics: counts, success rate and latency, printed and exported for Prometheus.

The textfile is meant for node_exporter's textfile collector
(``--collector.textfile.directory``): it is replaced atomically, so the
collector never reads half a file.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from planner.adapters.files import atomic_write_text

PREFIX = "llmplan_apply"


@dataclass(frozen=True)
class MetricsSummary:
    """One apply's figures. Rates and latencies are None when nothing was attempted.

    ``p95_latency_ms`` uses the nearest-rank method: the smallest observed
    latency such that at least 95 % of observations are at or below it, i.e.
    the value at rank ceil(0.95 × n) of the sorted latencies. It is always a
    latency that was actually observed (no interpolation).
    """

    updates: int
    successes: int
    failures: int
    success_rate: float | None
    avg_latency_ms: float | None
    p95_latency_ms: float | None
    creates: int = 0  # of ``updates``, the first configurations (a PUT either way, as the gateway counts them)


def nearest_rank(sorted_values: list[float], percentile: float) -> float:
    """The nearest-rank percentile of already sorted values (rank ceil(p/100 × n), 1-based)."""
    rank = max(1, math.ceil(percentile / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


class ApplyMetrics:
    """Collects one outcome per attempted update; safe to call from apply's worker threads."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._latencies: list[float] = []
        self._successes = 0
        self._failures = 0
        self._creates = 0

    def observe(self, success: bool, latency_ms: float, *, create: bool = False) -> None:
        with self._mutex:
            self._latencies.append(float(latency_ms))
            self._creates += create
            if success:
                self._successes += 1
            else:
                self._failures += 1

    def summary(self) -> MetricsSummary:
        with self._mutex:
            latencies = sorted(self._latencies)
            successes, failures, creates = self._successes, self._failures, self._creates
        updates = successes + failures
        if not updates:
            return MetricsSummary(0, 0, 0, None, None, None)
        return MetricsSummary(
            updates=updates,
            successes=successes,
            failures=failures,
            success_rate=successes / updates,
            avg_latency_ms=sum(latencies) / len(latencies),
            p95_latency_ms=nearest_rank(latencies, 95),
            creates=creates,
        )


def _number(value: float | None) -> str:
    if value is None:
        return "NaN"  # Prometheus' own answer to 0/0
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def prometheus_text(summary: MetricsSummary, environment: str, *, now: float | None = None) -> str:
    """The summary in the Prometheus text exposition format (version 0.0.4), one series per metric."""
    labels = f'{{environment="{_escape_label(environment)}"}}'
    series = [
        ("updates_total", "counter", "Configuration updates attempted by the last apply.", summary.updates),
        ("successes_total", "counter", "Configuration updates that succeeded in the last apply.", summary.successes),
        ("failures_total", "counter", "Configuration updates that failed in the last apply.", summary.failures),
        ("success_ratio", "gauge", "Share of attempted updates that succeeded (0 to 1; NaN when none were attempted).", summary.success_rate),
        ("latency_ms_avg", "gauge", "Average latency of an update request in milliseconds, retries included.", summary.avg_latency_ms),
        ("latency_ms_p95", "gauge", "95th percentile (nearest rank) of update latency in milliseconds.", summary.p95_latency_ms),
        ("last_run_timestamp_seconds", "gauge", "Unix time when the last apply finished.", time.time() if now is None else now),
    ]
    lines = []
    for name, kind, help_text, value in series:
        metric = f"{PREFIX}_{name}"
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}", f"{metric}{labels} {_number(value)}"]
    return "\n".join(lines) + "\n"


def write_textfile(path: Path, text: str) -> None:
    """Replace the textfile atomically, so node_exporter never reads a partial file."""
    atomic_write_text(Path(path), text)

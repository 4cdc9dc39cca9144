"""Apply metrics: numbers checked by hand, Prometheus text that parses, an atomic textfile."""

from __future__ import annotations

import math
import os
import re
import threading
from pathlib import Path

import pytest

from planner.adapters.metrics import ApplyMetrics, MetricsSummary, nearest_rank, prometheus_text, write_textfile
from planner.render.records import metrics_text


def observed(outcomes: list[tuple[bool, float]]) -> MetricsSummary:
    metrics = ApplyMetrics()
    for success, latency in outcomes:
        metrics.observe(success, latency)
    return metrics.summary()


def test_a_hand_computed_example() -> None:
    # 10 updates, 8 successes; latencies sum to 1180 ms; sorted:
    # 50 60 70 80 90 100 110 120 200 300 -> p95 = rank ceil(9.5) = 10 -> 300
    summary = observed(
        [(True, 120), (True, 80), (False, 200), (True, 50), (True, 300), (True, 90), (False, 110), (True, 70), (True, 60), (True, 100)]
    )
    assert summary == MetricsSummary(updates=10, successes=8, failures=2, success_rate=0.8, avg_latency_ms=118.0, p95_latency_ms=300.0)


@pytest.mark.parametrize(
    ("values", "p95"),
    [
        ([float(v) for v in range(1, 21)], 19.0),  # rank ceil(19.0) = 19
        ([float(v) for v in range(1, 101)], 95.0),  # rank 95
        ([float(v) for v in range(1, 102)], 96.0),  # rank ceil(95.95) = 96
        ([7.0], 7.0),  # one observation is every percentile
    ],
)
def test_p95_is_the_nearest_rank(values: list[float], p95: float) -> None:
    assert nearest_rank(sorted(values), 95) == p95


def test_nothing_attempted_has_no_rates() -> None:
    summary = ApplyMetrics().summary()
    assert summary == MetricsSummary(0, 0, 0, None, None, None)
    assert metrics_text(summary) == "metrics: no updates attempted"
    assert 'llmplan_apply_success_ratio{environment="dev"} NaN' in prometheus_text(summary, "dev", now=0)


def test_render_text_is_one_short_block() -> None:
    summary = observed([(True, 100.0), (True, 200.0), (False, 330.0)])
    assert metrics_text(summary) == (
        "metrics: 3 requests (0 creates, 3 updates), 2 succeeded, 1 failed (success rate 66.7 %)\n"
        "latency: avg 210.0 ms, p95 330.0 ms"
    )


def test_render_text_tells_creates_from_updates() -> None:
    metrics = ApplyMetrics()
    for create in (True, True, False):
        metrics.observe(True, 10.0, create=create)
    assert metrics_text(metrics.summary()).startswith("metrics: 3 requests (2 creates, 1 update), 3 succeeded, 0 failed")


SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{environment="(?P<env>(?:[^"\\]|\\.)*)"\} (?P<value>\S+)$')


def test_prometheus_text_parses_line_by_line() -> None:
    summary = observed([(True, 100.0), (True, 200.0), (False, 330.0), (True, 50.0)])
    text = prometheus_text(summary, "prod", now=1764064800.5)
    assert text.endswith("\n")
    samples: dict[str, float] = {}
    declared: dict[str, str] = {}
    helped: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split(" ", 3)[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            declared[name] = kind
        else:
            match = SAMPLE.match(line)
            assert match, line
            assert match["name"] in declared and match["name"] in helped  # HELP and TYPE come first
            assert match["env"] == "prod"
            samples[match["name"]] = float(match["value"])
    assert samples == {
        "llmplan_apply_updates_total": 4,
        "llmplan_apply_successes_total": 3,
        "llmplan_apply_failures_total": 1,
        "llmplan_apply_success_ratio": 0.75,
        "llmplan_apply_latency_ms_avg": 170.0,
        "llmplan_apply_latency_ms_p95": 330.0,
        "llmplan_apply_last_run_timestamp_seconds": 1764064800.5,
    }
    assert declared["llmplan_apply_updates_total"] == "counter" and declared["llmplan_apply_success_ratio"] == "gauge"


def test_label_values_are_escaped() -> None:
    text = prometheus_text(observed([(True, 1.0)]), 'we"ird\\env', now=0)
    assert 'environment="we\\"ird\\\\env"' in text


def test_the_textfile_is_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "metrics.prom"
    write_textfile(path, "first\n")
    inode = path.stat().st_ino
    write_textfile(path, prometheus_text(observed([(True, 5.0)]), "dev", now=0))
    assert path.read_text().startswith("# HELP llmplan_apply_updates_total")
    assert path.stat().st_ino != inode  # a new file renamed over the old one, never rewritten in place
    assert sorted(os.listdir(tmp_path)) == ["metrics.prom"]  # no temp file left behind


def test_observations_from_many_threads_are_all_counted() -> None:
    metrics = ApplyMetrics()
    threads = [threading.Thread(target=lambda ok=ok: [metrics.observe(ok, 1.0) for _ in range(1000)]) for ok in (True, False, True, True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary = metrics.summary()
    assert (summary.updates, summary.successes, summary.failures) == (4000, 3000, 1000)
    assert math.isclose(summary.success_rate or 0, 0.75)


def test_the_textfile_is_readable_by_another_user_such_as_node_exporter(tmp_path: Path) -> None:
    path = tmp_path / "metrics.prom"
    write_textfile(path, "x 1\n")
    assert path.stat().st_mode & 0o777 == 0o644
    path.chmod(0o640)  # an operator's choice survives the next write
    write_textfile(path, "x 2\n")
    assert path.stat().st_mode & 0o777 == 0o640

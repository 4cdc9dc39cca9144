"""The benchmarks of validate and plan still run as whole llmplan processes and report figure, bound and ratio
(tiny numbers, run as `make bench` runs them; not timing tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmark_scripts import run_benchmark as run_tiny_benchmark


def run_benchmark(name: str, output: Path, *arguments: str) -> tuple[str, dict]:
    last, document, _ = run_tiny_benchmark(name, output, *arguments)
    assert " x the bound " in last and "load " in last, last
    return last, document


def test_validate_10k_times_llmplan_validate_against_the_csafeloader_floor(tmp_path: Path) -> None:
    last, document = run_benchmark("validate_10k", tmp_path / "validate.json", "--models", "30", "--runs", "2")
    assert document["models"] == 30 and len(document["validate_runs_seconds"]) == 2
    floor = document["floor"]
    assert floor["files"] == 31  # environment.yaml and the 30 model files
    assert floor["seconds"] == pytest.approx(floor["startup_seconds"] + floor["load_seconds"], abs=0.002)
    assert document["peak_rss_mb"] > 0 and "MB peak for 30 models" in last


def test_plan_10k_times_llmplan_plan_with_the_live_fetch(tmp_path: Path) -> None:
    last, document = run_benchmark("plan_10k", tmp_path / "plan.json", "--models", "250", "--runs", "1")
    # the token, the first page, then pages 2 and 3 side by side: 3 round trips of 20 ms on top of the floor
    assert document["fetch_round_trips"] == 3
    assert document["bound_seconds"] == pytest.approx(document["floor"]["seconds"] + 3 * 0.020, abs=0.002)
    assert document["requests_per_plan"] == [4]  # a token and 3 pages, per plan
    assert "3 round trips at 20 ms" in last


def test_plan_1000_takes_its_bound_from_the_floor_not_from_its_own_run(tmp_path: Path) -> None:
    _, document = run_benchmark("plan_1000", tmp_path / "plan_1000.json", "--models", "120", "--runs", "1", "--sample", "10")
    assert document["changed"] == 100 and document["fetch_round_trips"] == 3
    assert document["bound_seconds"] == pytest.approx(document["floor"]["seconds"] + 3 * 0.020, abs=0.002)
    assert "no_gateway_seconds" not in document
    assert (document["sequential_sample"]["models"], document["sequential_sample"]["gets"]) == (10, 20)  # extrapolated to 120 models

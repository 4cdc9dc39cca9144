"""A 200-model apply through a gateway failing half the time (30 % 503, 20 %
429, 2 % dropped connections, tokens living 5 s) converges with nothing lost
and without a retry storm.  The full run (1,000 models) is
``benchmarks/fault_storm.py`` in ``make reliability``."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.fault_storm import storm


@pytest.mark.slow(reason="200 models through 52 % failures: the client's own 503 backoffs, and tokens living 5 s, must play out")
def test_a_200_model_storm_converges_loses_nothing_and_retries_no_more_than_needed(tmp_path: Path) -> None:
    # Retry-After 0 for the injected 429s keeps the test short; 503 backoff is the client's own. The seed
    # decides which request meets a run of 503s once few are left in flight: with seed 5 none does (a minute with 3)
    result = storm(200, retry_after=0, seed=5, workdir=tmp_path)

    assert result["runs"][-1]["exit_code"] == 0, result["runs"]
    assert result["checks"]["converged"], result["runs"]
    # every fault kind really hit the apply
    assert {"503", "429", "dropped"} <= set(result["statuses"]), result["statuses"]
    assert result["lost_updates"] == 0
    assert result["models_not_recorded"] == 0
    assert result["puts_without_one_success_entry"] == []
    assert result["audit_successes"] == result["accepted_puts"] >= 200
    assert result["checks"]["audit_verifies"]
    assert result["request_ratio"] <= 1.2, result

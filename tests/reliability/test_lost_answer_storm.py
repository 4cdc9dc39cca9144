"""A 200-model apply (100 updates, 100 first configurations) through a
gateway that answers 10 % 503 and 5 % 429 and loses 5 % of PUT answers
after applying them converges in one run: every change landed exactly once,
no failure entry, one success entry and one governance event per change.
The full run (1,000 models) is ``benchmarks/lost_answer_storm.py`` in
``make reliability``."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.lost_answer_storm import storm


@pytest.mark.slow(reason='200 models through lost answers, each read back')
def test_a_200_model_lost_answer_storm_converges_in_one_run_and_lands_each_change_once(tmp_path: Path) -> None:
    # Retry-After 0 for the injected 429s keeps the test short; seed 3 loses some answers of both kinds of change
    result = storm(200, retry_after=0, seed=3, workdir=tmp_path)

    assert result["exit_code"] == 0, result["error"]
    assert result["lost_answers"] > 0 and {"503", "429", "lost"} <= set(result["statuses"]), result["statuses"]
    assert result["successes_read_back"] == result["lost_answers"]  # each lost answer decided by reading back
    assert result["models_landed_more_than_once"] == []
    assert result["landed_puts"] == 200
    assert result["failure_entries"] == 0
    assert result["success_entries"] == result["governance_events"] == result["distinct_event_ids"] == 200
    assert all(result["checks"].values()), result["checks"]

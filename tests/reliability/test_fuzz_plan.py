"""Generated environments and the curated bad-input corpus go through `plan`
as well as `validate` (tests/foundation covers validate alone): exit 0 or 1
with a message, never a traceback, and no request for input validate refuses.
The full run (10,000 environments) is ``benchmarks/fuzz_inputs.py``."""

from __future__ import annotations

import pytest

from benchmarks.fuzz_inputs import fuzz


@pytest.mark.slow(reason='80 generated environments and the corpus through validate and plan')
def test_generated_and_corpus_environments_through_validate_and_plan() -> None:
    result = fuzz(80, workers=1, first_seed=7)

    assert result["failures"] == [], result["failures"][:3]
    assert result["tracebacks"] == 0
    assert result["runs_with_exit_0_or_1"] == result["runs"] == 2 * result["inputs"]
    assert result["corpus_cases"] >= 100
    assert result["invalid"] > 50 and result["requests_for_invalid"] == 0
    # some environments were valid and planned against the sandbox all the way through
    assert result["plan_exits"].get("0", 0) > 0
    assert result["non_loopback_connections"] == 0

"""Canary secrets through the whole CLI surface (validate, plan, show, apply,
drift, refresh, import, state, audit, governance flush), plain and with
--debug: no output, file or webhook delivery shows them.  tests/apply's
test_secrets.py covers apply's paths with caplog; this adds the rest of the
surface.  The full run uses child processes: ``benchmarks/secret_canary.py``."""

from __future__ import annotations

from pathlib import Path

from benchmarks.secret_canary import Canaries, canary_run


def test_no_canary_secret_anywhere_across_the_cli_surface(tmp_path: Path) -> None:
    canaries = Canaries.fresh()
    assert canaries.hits(f"Authorization: Basic x {canaries.client_secret}") == ["client secret"]  # the search finds what it looks for

    result = canary_run(tmp_path, in_process=True, canaries=canaries)

    assert result["unexpected_exits"] == []
    assert result["hits"] == {}
    assert result["commands_run"] == 44
    assert result["files_searched"] >= 20
    assert result["webhook_deliveries_searched"] >= 4
    assert result["debug_runs_with_request_log"] >= 8  # the talkative output was among what was searched

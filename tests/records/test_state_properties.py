"""Property: whatever records, forgets, commits and crashes happen, state equals a plain dict model."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.model.state import ResourceState
from tests.records.records_helpers import StateDriver

MODEL_ID = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"

operations = st.lists(
    st.one_of(
        st.tuples(st.just("record"), st.integers(0, 3), st.integers(1, 3)),
        st.tuples(st.just("forget"), st.integers(0, 3), st.just(0)),
        st.tuples(st.just("commit"), st.just(0), st.just(0)),
        # commit, then the journal reappears: a crash between the rename and the journal's removal
        st.tuples(st.just("commit-crash"), st.just(0), st.just(0)),
        # the process dies: a new backend reopens the folder
        st.tuples(st.just("reopen"), st.just(0), st.just(0)),
    ),
    max_size=25,
)


def resource(address: int, version: int) -> ResourceState:
    return ResourceState(f"m{address}", MODEL_ID, {"model_id": MODEL_ID, "max_tokens": version}, version, "ab" * 32, "2026-11-25T10:00:00Z")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_state_matches_a_dict_model_through_commits_and_crashes(steps: list[tuple[str, int, int]]) -> None:
    directory = Path(tempfile.mkdtemp()) / "dev"
    try:
        backend = StateDriver(directory)
        model: dict[str, int] = {}  # what every read must show
        persisted: dict[str, int] | None = None  # content of state.json, None before the first commit
        persisted_serial = 0
        journaled = False  # the journal holds lines
        for action, address, version in steps:
            if action == "record":
                backend.record(resource(address, version))
                model[f"m{address}"] = version
                journaled = True
            elif action == "forget":
                backend.forget(f"m{address}")
                model.pop(f"m{address}", None)
                journaled = True
            elif action == "reopen":
                backend = StateDriver(directory)
            else:
                journal = directory / "journal.jsonl"
                saved = journal.read_bytes() if journal.exists() else None
                persisted_serial = expected_serial(persisted, persisted_serial, journaled, model) or 0
                persisted = dict(model)
                assert backend.commit().serial == persisted_serial
                journaled = action == "commit-crash" and saved is not None
                if journaled:
                    journal.write_bytes(saved)  # type: ignore[arg-type]
            state = backend.read()
            serial = expected_serial(persisted, persisted_serial, journaled, model)
            if serial is None:
                assert state is None
                continue
            assert state is not None
            assert {address: entry.version for address, entry in state.resources.items()} == model
            assert state.serial == serial
    finally:
        shutil.rmtree(directory.parent, ignore_errors=True)


def expected_serial(persisted: dict[str, int] | None, serial: int, journaled: bool, model: dict[str, int]) -> int | None:
    """The serial read() must report: None = never written; +1 only if the journal changes the content."""
    if persisted is None:
        return 1 if journaled else None
    return serial + (1 if model != persisted else 0)

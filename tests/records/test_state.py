"""The local state backend: round trips, serial and lineage, refusals, backup, journal replay."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

from planner.model.errors import StateError
from planner.model.state import FORMAT_VERSION, ResourceState, State
from tests.records.records_helpers import StateDriver

MakeResource = Callable[..., ResourceState]


def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state" / "dev"


def test_state_round_trips_through_dict_and_file(tmp_path: Path, resource: MakeResource) -> None:
    state = State.empty().with_resource(resource(1)).with_resource(resource(2))
    assert State.from_dict(state.to_dict()) == state
    assert State.from_dict(json.loads(state.to_json())) == state

    backend = StateDriver(state_dir(tmp_path))
    backend.record(resource(1))
    backend.record(resource(2))
    committed = backend.commit()
    on_disk = json.loads((state_dir(tmp_path) / "state.json").read_text())
    assert on_disk["format_version"] == 1
    assert on_disk["serial"] == 1
    assert on_disk["resources"]["model-0001"]["configuration"]["max_tokens"] == 2048
    assert on_disk["resources"]["model-0001"]["capabilities"] == {"max_context_window": 4096, "restricted_safety_filters": ["political"]}
    assert StateDriver(state_dir(tmp_path)).read() == committed


def test_resource_is_a_private_copy(resource: MakeResource) -> None:
    configuration = {"model_id": "x", "max_tokens": 10}
    recorded = ResourceState("a", "a1b2c3d4-e5f6-7890-abcd-000000000001", configuration, 1, "ab" * 32, "2026-11-25T10:00:00Z")
    configuration["max_tokens"] = 99
    assert recorded.configuration["max_tokens"] == 10
    with pytest.raises(TypeError):
        recorded.configuration["max_tokens"] = 5  # type: ignore[index]


def test_what_state_keeps_of_a_put_answer_is_its_version_and_configuration_without_read_only_fields() -> None:
    from planner.app.executor import resource_state
    from planner.model.plan import UPDATE, ResourceChange

    body = {
        "model_id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
        "max_tokens": 2048,
        "version": 5,
        "modifiedDate": "2026-11-24T10:00:00.000Z",
        "selfUri": "/api/v2/ai/models/a1b2c3d4-e5f6-7890-abcd-ef1234567890/configuration",
    }
    change = ResourceChange("support-bot", body["model_id"], UPDATE, None, body)
    recorded = resource_state(change, body, None, "2026-11-25T10:00:00.000Z")
    assert recorded.version == 5 and recorded.address == "support-bot"
    assert "version" not in recorded.configuration and "modifiedDate" not in recorded.configuration and "selfUri" not in recorded.configuration
    assert recorded.configuration["max_tokens"] == 2048


def test_an_empty_folder_reads_as_never_written_and_the_first_commit_creates_the_lineage(tmp_path: Path) -> None:
    backend = StateDriver(state_dir(tmp_path))
    assert backend.read() is None
    first = backend.commit()
    assert first.serial == 0 and first.resources == {}
    uuid.UUID(first.lineage)
    assert StateDriver(state_dir(tmp_path)).read() == first


def test_commit_without_change_rewrites_nothing(tmp_path: Path, resource: MakeResource) -> None:
    backend = StateDriver(state_dir(tmp_path))
    backend.record(resource(1))
    backend.commit()
    before = (state_dir(tmp_path) / "state.json").stat()
    backend.record(resource(1))
    backend.commit()
    after = (state_dir(tmp_path) / "state.json").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert not (state_dir(tmp_path) / "journal.jsonl").exists()


def test_the_previous_state_is_kept_as_backup(tmp_path: Path, resource: MakeResource) -> None:
    backend = StateDriver(state_dir(tmp_path))
    backend.record(resource(1))
    backend.commit()
    first_text = (state_dir(tmp_path) / "state.json").read_text()
    backend.record(resource(1, version=2))
    backend.commit()
    assert (state_dir(tmp_path) / "state.json.backup").read_text() == first_text
    assert json.loads((state_dir(tmp_path) / "state.json").read_text())["resources"]["model-0001"]["version"] == 2


def write_state(tmp_path: Path, data: Any) -> Path:
    path = state_dir(tmp_path) / "state.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_a_state_of_another_lineage_is_refused_and_kept(tmp_path: Path, resource: MakeResource) -> None:
    other = State.empty().with_resource(resource(1))
    path = write_state(tmp_path, other.to_dict())
    original = path.read_bytes()
    expected = str(uuid.uuid4())
    backend = StateDriver(state_dir(tmp_path), lineage=expected)
    for attempt in (backend.read, backend.commit, lambda: backend.record(resource(2))):
        with pytest.raises(StateError) as refused:
            attempt()
        assert other.lineage in str(refused.value) and expected in str(refused.value)
    assert path.read_bytes() == original
    assert not (state_dir(tmp_path) / "journal.jsonl").exists()


def test_a_state_replaced_by_another_lineage_between_read_and_commit_is_not_overwritten(tmp_path: Path, resource: MakeResource) -> None:
    backend = StateDriver(state_dir(tmp_path))
    backend.record(resource(1))
    backend.commit()
    backend.record(resource(2))
    intruder = State.empty().with_resource(resource(3))
    path = write_state(tmp_path, intruder.to_dict())
    with pytest.raises(StateError, match="lineage"):
        backend.commit()
    assert json.loads(path.read_text())["lineage"] == intruder.lineage


def test_a_journal_of_another_lineage_is_refused(tmp_path: Path, resource: MakeResource) -> None:
    StateDriver(state_dir(tmp_path)).commit()
    stray = StateDriver(tmp_path / "elsewhere")
    stray.record(resource(1))
    shutil.copy(tmp_path / "elsewhere" / "journal.jsonl", state_dir(tmp_path) / "journal.jsonl")
    with pytest.raises(StateError, match=r"journal\.jsonl line 1 belongs to lineage"):
        StateDriver(state_dir(tmp_path)).read()


def test_a_newer_format_is_refused_and_kept(tmp_path: Path, resource: MakeResource) -> None:
    data = State.empty().with_resource(resource(1)).to_dict()
    data["format_version"] = FORMAT_VERSION + 1
    path = write_state(tmp_path, data)
    original = path.read_bytes()
    backend = StateDriver(state_dir(tmp_path))
    with pytest.raises(StateError, match="format_version 2, written by a newer llmplan") as refused:
        backend.commit()
    assert refused.value.hint is not None and "upgrade" in refused.value.hint
    assert path.read_bytes() == original


def test_corrupted_json_is_refused_naming_the_file_and_the_backup(tmp_path: Path, resource: MakeResource) -> None:
    backend = StateDriver(state_dir(tmp_path))
    backend.record(resource(1))
    backend.commit()
    backend.record(resource(1, version=2))
    backend.commit()  # now a backup exists
    path = state_dir(tmp_path) / "state.json"
    path.write_text('{"format_version": 1, "lineage": ')
    damaged = path.read_bytes()
    backup = (state_dir(tmp_path) / "state.json.backup").read_bytes()
    fresh = StateDriver(state_dir(tmp_path))
    for attempt in (fresh.read, fresh.commit, lambda: fresh.record(resource(2))):
        with pytest.raises(StateError) as refused:
            attempt()
        assert str(path) in str(refused.value)
        assert "not valid JSON" in str(refused.value) and "state.json.backup" in str(refused.value)
    assert path.read_bytes() == damaged
    assert (state_dir(tmp_path) / "state.json.backup").read_bytes() == backup


def test_a_schema_violation_names_the_field(tmp_path: Path, resource: MakeResource) -> None:
    data = State.empty().with_resource(resource(1)).to_dict()
    data["resources"]["model-0001"]["version"] = "seven"
    write_state(tmp_path, data)
    with pytest.raises(StateError, match=r"resources\.model-0001\.version: 'seven' is not of type 'integer'"):
        StateDriver(state_dir(tmp_path)).read()


def test_recording_an_invalid_resource_is_refused_before_it_is_written(tmp_path: Path) -> None:
    bad = ResourceState("x", "not-a-uuid", {"max_tokens": 1}, 1, "ab" * 32, "2026-11-25T10:00:00Z")
    backend = StateDriver(state_dir(tmp_path))
    with pytest.raises(StateError, match="model_id"):
        backend.record(bad)
    assert not (state_dir(tmp_path) / "journal.jsonl").exists()


def test_a_journal_without_state_file_is_the_first_state(tmp_path: Path, resource: MakeResource) -> None:
    crashed = StateDriver(state_dir(tmp_path))
    crashed.record(resource(1))
    lineage = crashed.read().lineage  # type: ignore[union-attr]
    state = StateDriver(state_dir(tmp_path)).read()
    assert state is not None and state.lineage == lineage and state.serial == 1
    assert list(state.resources) == ["model-0001"]


def test_replaying_a_journal_already_committed_changes_nothing(tmp_path: Path, resource: MakeResource) -> None:
    """A crash after state.json was written but before the journal was removed."""
    backend = StateDriver(state_dir(tmp_path))
    backend.record(resource(1))
    backend.commit()
    backend.record(resource(2))
    backend.forget("model-0001")
    journal = (state_dir(tmp_path) / "journal.jsonl").read_bytes()
    committed = backend.commit()
    (state_dir(tmp_path) / "journal.jsonl").write_bytes(journal)  # as if the removal never happened

    again = StateDriver(state_dir(tmp_path))
    assert again.read() == committed
    assert again.commit().serial == committed.serial == 2


def test_a_torn_last_journal_line_is_ignored_with_a_warning_and_cleaned(tmp_path: Path, resource: MakeResource) -> None:
    writer = StateDriver(state_dir(tmp_path))
    writer.record(resource(1))
    writer.record(resource(2))
    journal = state_dir(tmp_path) / "journal.jsonl"
    with open(journal, "ab") as handle:
        handle.write(b'{"lineage":"x","op":"rec')  # the crash cut this append short

    reader = StateDriver(state_dir(tmp_path))
    state = reader.read()
    assert state is not None and list(state.resources) == ["model-0001", "model-0002"]
    recoveries = reader.snapshot().recoveries
    assert len(recoveries) == 1 and "torn last line" in recoveries[0]

    reader.record(resource(3))  # must not be glued onto the fragment
    assert list(StateDriver(state_dir(tmp_path)).read().resources) == ["model-0001", "model-0002", "model-0003"]  # type: ignore[union-attr]
    assert reader.commit().serial == 1
    assert not journal.exists()


def test_a_corrupted_line_inside_the_journal_is_refused_naming_it(tmp_path: Path, resource: MakeResource) -> None:
    writer = StateDriver(state_dir(tmp_path))
    writer.record(resource(1))
    writer.record(resource(2))
    journal = state_dir(tmp_path) / "journal.jsonl"
    first, second = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(first + b"garbage\n" + second)  # not a crash: a crash can only tear the last line
    with pytest.raises(StateError, match=r"journal\.jsonl line 2 is corrupted"):
        StateDriver(state_dir(tmp_path)).read()


def test_state_from_dict_checks_the_address_keys(resource: MakeResource) -> None:
    data = State.empty().with_resource(resource(1)).to_dict()
    data["resources"]["renamed"] = data["resources"].pop("model-0001")
    with pytest.raises(StateError, match="says its address is 'model-0001'"):
        State.from_dict(data)


def test_a_hand_edit_is_noticed_and_checked_against_the_schema(tmp_path: Path, resource: MakeResource) -> None:
    backend = StateDriver(state_dir(tmp_path))
    backend.record(resource(1))
    backend.commit()
    path = state_dir(tmp_path) / "state.json"
    assert State.written_by_us(path.read_bytes())

    path.write_text(path.read_text().replace('"max_tokens":2048', '"max_tokens":1024'))  # still valid
    edited = StateDriver(state_dir(tmp_path)).snapshot()
    state = edited.state
    assert state is not None and state.resources["model-0001"].configuration["max_tokens"] == 1024
    assert edited.tampered is not None and "was edited outside llmplan: its checksum does not match" in edited.tampered

    path.write_text(path.read_text().replace('"version":1', '"version":"one"'))  # no longer valid
    with pytest.raises(StateError, match=r"resources\.model-0001\.version: 'one' is not of type 'integer'"):
        StateDriver(state_dir(tmp_path)).read()


def test_state_json_has_one_line_per_resource_so_diffs_show_what_changed(tmp_path: Path, resource: MakeResource) -> None:
    backend = StateDriver(state_dir(tmp_path))
    for index in range(1, 6):
        backend.record(resource(index))
    backend.commit()
    before = (state_dir(tmp_path) / "state.json").read_text().splitlines()
    backend.record(resource(3, version=2))
    backend.commit()
    after = (state_dir(tmp_path) / "state.json").read_text().splitlines()
    changed = [new for old, new in zip(before, after, strict=True) if old != new]
    assert len(before) == len(after)
    assert [line.split(":")[0].strip() for line in changed] == ['{"checksum"', '"audit_head"', '"serial"', '"model-0003"']  # the header, and that one model


def test_a_removed_state_file_with_a_backup_beside_it_is_refused(tmp_path: Path, resource: MakeResource) -> None:
    backend = StateDriver(state_dir(tmp_path))
    backend.record(resource(1))
    backend.commit()
    backend.record(resource(2))
    backend.commit()
    (state_dir(tmp_path) / "state.json").unlink()  # a slip of the hand
    with pytest.raises(StateError, match="is missing but state.json.backup exists") as refused:
        StateDriver(state_dir(tmp_path)).commit()
    assert refused.value.hint is not None and "cp " in refused.value.hint
    assert not (state_dir(tmp_path) / "state.json").exists()


def test_readers_without_the_lock_see_a_consistent_state_while_a_writer_commits(tmp_path: Path, resource: MakeResource) -> None:
    """Every version a reader sees for one address was recorded; it never goes back to an older one."""
    import threading

    writer = StateDriver(state_dir(tmp_path))
    writer.record(resource(1, version=1))
    writer.commit()
    done = threading.Event()
    seen: list[int] = []

    def read_repeatedly() -> None:
        reader = StateDriver(state_dir(tmp_path))
        while not done.is_set():
            state = reader.read()
            assert state is not None
            seen.append(state.resources["model-0001"].version)

    thread = threading.Thread(target=read_repeatedly)
    thread.start()
    try:
        for version in range(2, 60):
            writer.record(resource(1, version=version))
            if version % 3 == 0:
                writer.commit()
    finally:
        done.set()
        thread.join()
    assert seen and all(later >= earlier for earlier, later in zip(seen, seen[1:], strict=False))

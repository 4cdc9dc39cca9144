"""State in files: ``state/<env>/state.json`` (+ ``.backup``), and the journal of what was recorded since.

``state.json`` is rewritten atomically at each commit (the previous version
kept as ``state.json.backup``); between commits every recorded change is a
line of ``journal.jsonl`` (:class:`~planner.adapters.records.journal.JournalLine`,
written by :class:`~planner.adapters.records.local.LocalRecords`). Reading
folds the journal over ``state.json``; folding is idempotent, so a crash
between writing ``state.json`` and deleting the journal is harmless.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from planner.adapters.files import read_json_lines
from planner.adapters.records.interfaces import StateSnapshot
from planner.adapters.records.journal import JournalLine, fold
from planner.model.errors import StateError
from planner.model.state import State

STATE_FILE = "state.json"
BACKUP_FILE = "state.json.backup"
JOURNAL_FILE = "journal.jsonl"


def identity(path: Path) -> tuple[int, int, int] | None:
    """What tells one version of a file from another: inode, size, modification time."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns)


class LocalStateReader:
    """The state of one ``state/<env>/`` folder, as it is on disk now. Needs no lock.

    ``lineage``: the lineage this reader must find (for example the one a
    saved plan was made against); otherwise the first one it reads is
    adopted, and any other lineage met later is refused.
    """

    def __init__(self, directory: Path, *, environment: str, lineage: str | None = None) -> None:
        self.directory = Path(directory)
        self.environment = environment
        self.lineage = lineage

    def __repr__(self) -> str:
        return f"LocalStateReader({str(self.directory)!r}, environment={self.environment!r})"

    @property
    def state_path(self) -> Path:
        return self.directory / STATE_FILE

    @property
    def backup_path(self) -> Path:
        return self.directory / BACKUP_FILE

    @property
    def journal_path(self) -> Path:
        return self.directory / JOURNAL_FILE

    def read(self) -> StateSnapshot:
        committed, tampered, lines, recoveries = self.load()
        changes = [change for line in lines for change in line.changes]
        return StateSnapshot(fold(committed, changes, environment=self.environment), committed, tampered, recoveries)

    def load(self, attempts: int = 20) -> tuple[State | None, str | None, list[JournalLine], tuple[str, ...]]:
        """state.json and the journal as of one instant, even while another process commits.

        A commit renames a new state.json into place, then deletes the
        journal. A reader without the lock could pair the old state with a
        journal started after that commit; every rename makes a new inode,
        so a state.json that changed while we read is simply read again.
        """
        for _ in range(attempts):
            before = identity(self.state_path)
            committed, tampered = self._load_state_file()
            lines, recoveries = self.journal()
            if identity(self.state_path) == before:
                self._check_lineage(committed, lines)
                return committed, tampered, lines, recoveries
        raise StateError(f"{self.state_path} kept changing while it was read; is another llmplan running without the lock?")

    def journal(self) -> tuple[list[JournalLine], tuple[str, ...]]:
        """The journal's lines; a torn last line (a crash mid-write, never promised as recorded) is left out and said."""
        content = read_json_lines(self.journal_path)
        if content.bad_line is not None:
            raise StateError(
                f"{self.journal_path} line {content.bad_line} is corrupted ({content.bad_reason}); "
                "only a crash-torn last line can be recovered automatically",
                hint="inspect the journal; it holds changes not yet folded into state.json",
            )
        lines = [JournalLine.from_data(data, source=f"{self.journal_path} line {number}") for number, data in enumerate(content.records, start=1)]
        recoveries: tuple[str, ...] = ()
        if content.torn:
            recoveries = (f"{self.journal_path}: ignored a torn last line ({len(content.torn_fragment)} bytes, an incomplete write from a crash); the next write removes it",)
        return lines, recoveries

    def _check_lineage(self, committed: State | None, lines: list[JournalLine]) -> None:
        lineage = committed.lineage if committed is not None else (lines[0].lineage if lines else None)
        if lineage is None:
            return
        if self.lineage is not None and lineage != self.lineage:
            path = self.state_path if committed is not None else self.journal_path
            raise StateError(
                f"{path} belongs to lineage {lineage}, but lineage {self.lineage} was expected: "
                f"it is the state of another environment, or was replaced; refusing to use it",
                hint="check --env and the state/ folder; nothing was overwritten",
            )
        for number, line in enumerate(lines, start=1):
            if line.lineage != lineage:
                raise StateError(
                    f"{self.journal_path} line {number} belongs to lineage {line.lineage}, "
                    f"but {self.state_path.name} is lineage {lineage}: the journal is from another state",
                    hint="move the journal aside after checking it; nothing was changed",
                )
        self.lineage = lineage

    def _load_state_file(self) -> tuple[State | None, str | None]:
        try:
            raw = self.state_path.read_bytes()
            text = raw.decode("utf-8")
        except FileNotFoundError:
            if self.backup_path.exists():
                # Our writes never leave state.json absent once written: someone removed it.
                raise StateError(
                    f"{self.state_path} is missing but {self.backup_path.name} exists; refusing to start a new state",
                    hint=f"restore it with `cp {self.backup_path} {self.state_path}`, or remove the backup to start afresh",
                ) from None
            return None, None
        except (OSError, UnicodeDecodeError) as error:
            raise self._corrupted(f"cannot be read ({error.__class__.__name__})") from error
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as error:
            raise self._corrupted(f"is not valid JSON (line {error.lineno} column {error.colno}: {error.msg})") from error
        intact = State.written_by_us(raw)
        tampered = None
        if isinstance(data, dict) and "checksum" in data and not intact:
            tampered = f"{self.state_path} was edited outside llmplan: its checksum does not match its content"
        return State.from_dict(data, source=str(self.state_path), trusted=intact), tampered

    def _corrupted(self, what: str) -> StateError:
        backup = f"; the previous version is in {self.backup_path}" if self.backup_path.exists() else ""
        return StateError(
            f"state file {self.state_path} {what}{backup}",
            hint=f"inspect {self.state_path.name}; if it is damaged, copy {BACKUP_FILE} over it "
            "(changes since that version are in journal.jsonl and the audit trail); nothing was overwritten",
        )

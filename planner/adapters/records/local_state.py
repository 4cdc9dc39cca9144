"""State in files: ``state/<env>/state.json`` and its journal.

``state.json`` is rewritten atomically (the previous version kept as
``state.json.backup``); during an apply each :meth:`LocalStateStore.record`
appends one fsynced line to ``journal.jsonl``, O(1) per model, instead of
rewriting a 1,000-model state after every PUT. :meth:`~LocalStateStore.commit`
folds the journal into ``state.json`` and deletes it. Folding is idempotent
(a record sets, a forget removes), so a crash between writing ``state.json``
and deleting the journal is harmless: the next fold of the same lines
changes nothing.
"""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any, Callable

from planner.adapters.files import append_line_durably, atomic_write_text, read_json_lines, remove_durably, truncate_durably
from planner.adapters.records.journal import JournalChange, fold
from planner.model.errors import StateError
from planner.model.state import AuditHead, ResourceState, State

STATE_FILE = "state.json"
BACKUP_FILE = "state.json.backup"
JOURNAL_FILE = "journal.jsonl"


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns)


class LocalStateStore:
    """State in files under ``state/<env>/``; see the module docstring for the layout.

    ``lineage``: the lineage this store must find (for example the one a
    saved plan was made against); otherwise the first one it reads is
    adopted, and any other lineage met later is refused.

    Thread-safe: apply may record from worker threads. Writes assume the
    caller holds the environment's lock, as apply does; reads do not need it.
    """

    def __init__(self, directory: Path, *, environment: str | None = None, lineage: str | None = None) -> None:
        self.directory = Path(directory)
        self.environment = environment or self.directory.name
        self.warnings: list[str] = []
        self.tampered: str | None = None
        self._lineage = lineage
        self._mutex = threading.RLock()
        self._journal_checked = False
        self._lineage_checked = False
        # (state.json and journal identities, the state and journal they held): a commit
        # reuses what this process read and appended instead of reading it all again
        self._known: tuple[tuple[Any, Any], State | None, tuple[JournalChange, ...]] | None = None

    def __repr__(self) -> str:
        return f"LocalStateStore({str(self.directory)!r}, environment={self.environment!r})"

    @property
    def state_path(self) -> Path:
        return self.directory / STATE_FILE

    @property
    def backup_path(self) -> Path:
        return self.directory / BACKUP_FILE

    @property
    def journal_path(self) -> Path:
        return self.directory / JOURNAL_FILE

    # --- reading ---------------------------------------------------------

    def read(self) -> State | None:
        with self._mutex:
            persisted, changes = self._load()
            return fold(persisted, changes)

    def committed(self) -> State | None:
        """The state as last committed, without the journal of a run that did not finish."""
        with self._mutex:
            return self._load()[0]

    def _load(self) -> tuple[State | None, list[JournalChange]]:
        persisted, changes = self._load_consistent()
        lineage = persisted.lineage if persisted is not None else (changes[0].lineage if changes else None)
        if lineage is not None:
            self._check_lineage(lineage, self.state_path if persisted is not None else self.journal_path)
        for number, change in enumerate(changes, start=1):
            if change.lineage != lineage:
                raise StateError(
                    f"{self.journal_path} line {number} belongs to lineage {change.lineage}, "
                    f"but {self.state_path.name} is lineage {lineage}: the journal is from another state",
                    hint="move the journal aside after checking it; nothing was changed",
                )
        if lineage is not None:
            self._lineage = lineage
        return persisted, changes

    def _load_consistent(self, attempts: int = 20) -> tuple[State | None, list[JournalChange]]:
        """state.json and the journal as of one instant, even while another process commits.

        A commit renames a new state.json into place, then deletes the
        journal. A reader without the lock could pair the old state with a
        journal started after that commit; every rename makes a new inode,
        so a state.json that changed while we read is simply read again.
        """
        files = (_identity(self.state_path), _identity(self.journal_path))
        if self._known is not None and self._known[0] == files:
            return self._known[1], list(self._known[2])  # nothing changed on disk since we read or wrote it
        for _ in range(attempts):
            before = _identity(self.state_path)
            persisted = self._load_state_file()
            changes = self._load_journal()
            if _identity(self.state_path) == before:
                self._known = ((before, _identity(self.journal_path)), persisted, tuple(changes))
                return persisted, changes
        raise StateError(f"{self.state_path} kept changing while it was read; is another llmplan running without the lock?")

    def _check_lineage(self, found: str, path: Path) -> None:
        if self._lineage is not None and found != self._lineage:
            raise StateError(
                f"{path} belongs to lineage {found}, but lineage {self._lineage} was expected: "
                f"it is the state of another environment, or was replaced; refusing to use it",
                hint="check --env and the state/ folder; nothing was overwritten",
            )

    def _load_state_file(self) -> State | None:
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
            return None
        except (OSError, UnicodeDecodeError) as error:
            raise self._corrupted(f"cannot be read ({error.__class__.__name__})") from error
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise self._corrupted(f"is not valid JSON (line {error.lineno} column {error.colno}: {error.msg})") from error
        intact = State.written_by_us(raw)
        if isinstance(data, dict) and "checksum" in data and not intact:
            self.tampered = f"{self.state_path} was edited outside llmplan: its checksum does not match its content"
        return State.from_dict(data, source=str(self.state_path), trusted=intact)

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def _corrupted(self, what: str) -> StateError:
        backup = f"; the previous version is in {self.backup_path}" if self.backup_path.exists() else ""
        return StateError(
            f"state file {self.state_path} {what}{backup}",
            hint=f"inspect {self.state_path.name}; if it is damaged, copy {BACKUP_FILE} over it "
            "(changes since that version are in journal.jsonl and the audit trail); nothing was overwritten",
        )

    def _load_journal(self) -> list[JournalChange]:
        content = read_json_lines(self.journal_path)
        if content.bad_line is not None:
            raise StateError(
                f"{self.journal_path} line {content.bad_line} is corrupted ({content.bad_reason}); "
                "only a crash-torn last line can be recovered automatically",
                hint="inspect the journal; it holds changes not yet folded into state.json",
            )
        if content.torn:
            warning = (
                f"{self.journal_path}: ignored a torn last line ({len(content.torn_fragment)} bytes, "
                "an incomplete write from a crash); the next commit removes it"
            )
            self._warn(warning)
        return [
            JournalChange.from_line(data, source=f"{self.journal_path} line {number}")
            for number, data in enumerate(content.records, start=1)
        ]

    # --- writing ---------------------------------------------------------

    def record(self, resource: ResourceState) -> None:
        ResourceState.from_dict(resource._json_view(), source=f"resource {resource.address!r}")
        self._append(lambda lineage: JournalChange(lineage, resource.address, resource))

    def forget(self, address: str) -> None:
        self._append(lambda lineage: JournalChange(lineage, address, None))

    def _append(self, make: Callable[[str], JournalChange]) -> None:
        with self._mutex:
            lineage = self._current_lineage()
            if not self._journal_checked:
                self._clean_journal_tail()
            change = make(lineage)
            files = (_identity(self.state_path), _identity(self.journal_path))
            self._journal_checked = False  # until the append is known complete
            append_line_durably(self.journal_path, change.to_line())
            self._journal_checked = True
            known, self._known = self._known, None
            if known is not None and known[0] == files:  # what we knew, plus our own line: no need to read it back
                self._known = ((files[0], _identity(self.journal_path)), known[1], (*known[2], change))

    def _current_lineage(self) -> str:
        if not self._lineage_checked:
            self._load()  # refuses a state or journal of another lineage before anything is appended
            self._lineage_checked = True
        if self._lineage is None:
            self._lineage = str(uuid.uuid4())  # the first write in an empty folder creates it
        return self._lineage

    def _clean_journal_tail(self) -> None:
        """Cut a crash-torn last line before appending, so a new line is never glued to it."""
        content = read_json_lines(self.journal_path)
        if content.bad_line is not None:
            self._load_journal()  # raises the corruption error
        if content.torn_offset is not None:
            truncate_durably(self.journal_path, content.torn_offset)
            self.warnings.append(
                f"{self.journal_path}: removed a torn last line ({len(content.torn_fragment)} bytes, "
                "an incomplete write from a crash)"
            )
        self._journal_checked = True

    def commit(self, vouch: Callable[[State], AuditHead] | None = None, *, rewrite: bool = False) -> State:
        with self._mutex:
            persisted, changes = self._load()
            state = fold(persisted, changes) or State.empty(self._current_lineage())
            if state is not persisted or rewrite:  # fold returns the persisted object itself when nothing changed
                if vouch is not None:
                    state = state.vouched_by(vouch(state))
                atomic_write_text(self.state_path, state.to_json(), backup=True)
                self.tampered = None
            # A crash here leaves the journal beside a state that already holds it: folding it again changes nothing.
            remove_durably(self.journal_path)
            self._journal_checked = True
            self._lineage = state.lineage
            self._known = ((_identity(self.state_path), None), state, ())
            return state

    def replace(self, state: State) -> None:
        """Write ``state`` as it is (lineage and serial kept): how ``state migrate`` brings a copy here."""
        with self._mutex:
            self._known = None
            atomic_write_text(self.state_path, state.to_json(), backup=True)
            remove_durably(self.journal_path)
            self._journal_checked = True
            self._lineage = state.lineage

"""The local-files backend: an environment's records under ``state/<env>/``.

Embedded, nothing to install: what ``make demo`` uses, and right for one
person or one CI runner (with ``state/`` committed to Git). Files:
``state.json`` (+ ``.backup``), ``journal.jsonl``, ``audit.jsonl`` (+
``.head``, ``.torn``), ``outbox.jsonl`` (+ ``.delivered``), ``.lock``,
``lock.json`` and ``fence``.

One durable write per unit of work: its state change, audit entry and
governance event are one line of ``journal.jsonl``, fsynced before the
change is reported recorded; ``audit.jsonl`` and ``outbox.jsonl`` are then
appended from it (no fsync of their own until the commit), and caught up
from it after a crash. So a crash, or a write refused anywhere, leaves all
three or none. Units of work recorded while an fsync is in flight share
the next one (:class:`~planner.adapters.records.group_commit.GroupCommit`).
The commit folds the journal into ``state.json``, makes the trail and the
outbox durable, moves the checkpoint, and removes the journal.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from planner.adapters.files import append_bytes_durably, atomic_write_text, fsync_directory, read_json_lines, remove_durably, truncate_durably
from planner.adapters.records.chain import chained_entry
from planner.adapters.records.group_commit import GroupCommit
from planner.adapters.records.interfaces import Change, Lease, Recorded, RepairResult, StateSnapshot
from planner.adapters.records.journal import JournalChange, JournalLine, fold
from planner.adapters.records.local_audit import AUDIT_FILE, REPAIR_HINT, LocalAuditTrail
from planner.adapters.records.local_lock import LocalLocker
from planner.adapters.records.local_outbox import OUTBOX_FILE, LocalOutbox
from planner.adapters.records.local_state import BACKUP_FILE, JOURNAL_FILE, STATE_FILE, LocalStateReader, identity
from planner.adapters.records.vouching import commit_entry, head_of, placed
from planner.model.audit import REPAIR_ACTION, SUCCESS
from planner.model.clock import utc_now
from planner.model.configuration import canonical_json, sha256_hex
from planner.model.errors import AuditError, StateError
from planner.model.state import ResourceState, State

Batch = tuple[Lease, tuple[Change, ...]]
log = logging.getLogger("llmplan.records")
DRIFT_FILE = "drift.json"  # the last drift check's result (DriftMemory)
_DISK_HINT = "free space on that disk (or make the folder writable) and run the command again: what landed is settled then"


class LocalRecords:
    """The records of one ``state/<env>/`` folder; see the module docstring for the layout."""

    def __init__(self, directory: Path, *, environment: str | None = None) -> None:
        self.directory = Path(directory)
        self.environment = environment or self.directory.name
        self.name = f"local files in {self.directory}"
        self.state = LocalStateReader(self.directory, environment=self.environment)
        self.locker = LocalLocker(self.directory, environment=self.environment, recorded_fence=self._recorded_fence)
        self.audit = LocalAuditTrail(self.directory / AUDIT_FILE, environment=self.environment, unwritten=self._unwritten)
        self.outbox = LocalOutbox(self.directory / OUTBOX_FILE)
        self._group: GroupCommit[Batch, list[Recorded]] = GroupCommit(self._flush)
        self._mutex = threading.RLock()  # one writer at a time in this process: flushes, commit, repair
        # What this process knows while it writes under a lease (None: read it from disk first).
        self._known: _Known | None = None
        self._recoveries: list[str] = []  # what catching up had to repair, for the command to report

    def __repr__(self) -> str:
        return f"LocalRecords({str(self.directory)!r})"

    @property
    def journal_path(self) -> Path:
        return self.directory / JOURNAL_FILE

    @property
    def fsyncs(self) -> int:
        """Durable writes of units of work so far (group commits), for the tests that count them."""
        return self._group.batches

    def is_empty(self) -> bool:
        return not any((self.directory / name).exists() for name in (self.state.state_path.name, JOURNAL_FILE, AUDIT_FILE))

    # --- under a lease ---------------------------------------------------------------

    def refresh(self, lease: Lease) -> StateSnapshot:
        """Bring the trail and the outbox up to date from the journal (what a crash left), then read the state."""
        with self._mutex, self.locker.fenced(lease):
            self._known = None
            self._recoveries = []
            self._catch_up(lease)
            snapshot = self.state.read()
            return StateSnapshot(snapshot.state, snapshot.committed, snapshot.tampered, (*self._recoveries, *snapshot.recoveries))

    def record(self, lease: Lease, changes: Sequence[Change]) -> list[Recorded]:
        return self._group.submit((lease, tuple(changes)))

    def _flush(self, batches: Sequence[Batch]) -> list[list[Recorded] | BaseException]:
        """One durable write for every unit of work of ``batches``; a unit the audit schema refuses fails alone."""
        lease = batches[0][0]
        with self._mutex, self.locker.fenced(lease):
            known = self._catch_up(lease)
            lines: list[JournalLine] = []
            results: list[list[Recorded] | BaseException] = []
            last_hash, size = known.last_hash, known.audit_size
            for held, changes in batches:
                if held.token != lease.token:  # two leases in one process: only one can be current
                    results.append(self.locker._taken_over(held, lease.token))
                    continue
                try:
                    built, recorded, last_hash, size = self._lines(held, changes, known.lineage, last_hash, size)
                except (AuditError, StateError) as refused:  # the audit or state schema refuses it: nothing of it is written
                    results.append(refused)
                    continue
                lines.extend(built)
                results.append(recorded)
            if lines:
                self._write(known, lines)
            return results

    def _lines(self, lease: Lease, changes: Iterable[Change], lineage: str, last_hash: str, size: int) -> tuple[list[JournalLine], list[Recorded], str, int]:
        """The journal lines of one unit of work list, chained after ``last_hash`` (nothing written yet)."""
        lines, recorded = [], []
        for change in changes:
            state_changes = []
            if change.resource is not None:
                ResourceState.from_dict(change.resource._json_view(), source=f"resource {change.resource.address!r}")
                state_changes.append(JournalChange(lineage, change.resource.address, change.resource))
            if change.forget is not None:  # after the record: a move keeps the model at its new address
                state_changes.append(JournalChange(lineage, change.forget, None))
            entry = position = None
            if change.audit_fields is not None:
                entry = chained_entry(change.audit_fields, previous_hash=last_hash, now=utc_now())
                last_hash, position = entry["entry_hash"], size
                size += len(canonical_json(entry).encode("utf-8")) + 1
            event = dict(change.event) if change.event is not None else (change.event_for(entry) if change.event_for is not None and entry is not None else None)
            lines.append(JournalLine(lineage, lease.token, tuple(state_changes), entry, event))
            recorded.append(Recorded(entry, event, position))
        return lines, recorded, last_hash, size

    def _write(self, known: "_Known", lines: list[JournalLine]) -> None:
        """The journal first, durably: then the units of work are recorded. The trail and the outbox follow from it."""
        try:
            append_bytes_durably(self.journal_path, "".join(line.to_line() + "\n" for line in lines).encode("utf-8"))
        except OSError as error:
            self._known = None  # a torn line may be left: read again, and cut, before the next write
            raise StateError(f"cannot write {self.journal_path}: {error.strerror or error}; nothing more was recorded", hint=_DISK_HINT) from error
        known.lines.extend(lines)
        entries = [line.entry for line in lines if line.entry is not None]
        events = [line.event for line in lines if line.event is not None]
        try:
            self.audit.append_lines(canonical_json(entry) for entry in entries)
            self.outbox.append_lines(canonical_json(event) for event in events)
        except OSError as error:  # recorded all the same: the journal holds them; the next write or the commit catches up
            log.warning("%s: %s; the journal holds what was recorded and the next write catches up", self.audit.path.parent, error.strerror or error)
            self._known = None
            return
        if entries:
            known.last_hash = str(entries[-1]["entry_hash"])
            known.audit_size += sum(len(canonical_json(entry).encode("utf-8")) + 1 for entry in entries)
        known.files = self._identities()

    def commit(self, lease: Lease, *, rewrite: bool = False) -> State:
        with self._mutex, self.locker.fenced(lease):
            known = self._catch_up(lease)
            changes = [change for line in known.lines for change in line.changes]
            state = fold(known.committed, changes, environment=self.environment) or State.empty(known.lineage, environment=self.environment)
            write = state is not known.committed or rewrite or state.environment is None
            if write:
                state = _named(state, self.environment)
                recorded = self._vouching_line(lease, state, known)
                assert recorded.entry is not None and recorded.position is not None
                state = state.vouched_by(head_of(recorded.entry, recorded.position))
            try:
                known = self._catch_up(lease)  # the vouching entry too, should its append have failed
                self.audit.sync()
                self.outbox.sync()
                if write:
                    atomic_write_text(self.state.state_path, state.to_json(), backup=True)
                self.audit.checkpoint()
            except OSError as error:  # the journal is kept: the next command folds it again
                self._known = None
                raise StateError(f"cannot write the records in {self.directory}: {error.strerror or error}; the journal keeps what was recorded", hint=_DISK_HINT) from error
            # A crash here leaves the journal beside a state that already holds it: folding it again changes nothing.
            remove_durably(self.journal_path)
            self._known = _Known(lease.token, state, self._identities(), [], state.lineage, known.last_hash, known.audit_size)
            return state

    def _vouching_line(self, lease: Lease, state: State, known: "_Known") -> Recorded:
        """The ``state_commit`` entry that vouches for ``state``, durable in the journal and appended to the trail."""
        built, (recorded,), _, _ = self._lines(lease, [Change(audit_fields=commit_entry(state, self.environment))], known.lineage, known.last_hash, known.audit_size)
        self._write(known, built)
        return recorded

    # --- catching up from the journal ----------------------------------------------------

    def _catch_up(self, lease: Lease) -> "_Known":
        """What is on disk, with the trail and the outbox holding every entry and event of the journal
        (call under the mutex and the fence)."""
        known = self._known
        if known is not None and known.token == lease.token and known.files == self._identities():
            return known  # nothing changed on disk since this holding of the lock last wrote
        try:
            return self._caught_up(lease)
        except OSError as error:  # a full disk, a read-only folder: the journal keeps what was recorded
            self._known = None
            where = error.filename or self.directory
            raise StateError(f"cannot write the records in {where}: {error.strerror or error}; the journal keeps what was recorded", hint=_DISK_HINT) from None

    def _caught_up(self, lease: Lease) -> "_Known":
        committed, _tampered, lines, recoveries = self.state.load()
        if recoveries:  # a torn last journal line was never promised as recorded: cut before anything follows it
            content = read_json_lines(self.journal_path)
            if content.torn_offset is not None:
                truncate_durably(self.journal_path, content.torn_offset)
                self._recoveries.append(f"{self.journal_path}: removed a torn last line ({len(content.torn_fragment)} bytes, an incomplete write from a crash)")
        last_hash, size, torn = self.audit.tail()
        missing = _after([line.entry for line in lines if line.entry is not None], last_hash)
        if missing is None:
            raise AuditError(
                f"{self.audit.path} and {self.journal_path} disagree: the journal's entries do not follow the trail's last entry",
                hint="run `llmplan audit verify`; restore the trail from a backup if it was edited",
            )
        if torn is not None:
            if not missing:  # a torn line the journal does not hold: for `audit verify --repair`, never chained onto
                raise AuditError(f"{self.audit.path} ends with a torn line (an incomplete write, probably a crash); refusing to chain onto it", hint=REPAIR_HINT)
            self.audit.set_aside(torn)  # the start of an entry the journal holds whole: written again below
        if missing:
            self.audit.append_lines(canonical_json(entry) for entry in missing)
            last_hash = str(missing[-1]["entry_hash"])
            size += sum(len(canonical_json(entry).encode("utf-8")) + 1 for entry in missing)
        events = [line.event for line in lines if line.event is not None]
        if events:
            queued = self.outbox.queued_ids()
            self.outbox.append_lines(canonical_json(event) for event in events if str(event.get("event_id")) not in queued)
        lineage = committed.lineage if committed is not None else (lines[0].lineage if lines else self.state.lineage or _new_lineage())
        self.state.lineage = lineage
        self._known = _Known(lease.token, committed, self._identities(), list(lines), lineage, last_hash, size)
        return self._known

    def _identities(self) -> tuple[Any, ...]:
        """What tells whether anyone touched the records since we last wrote them: state.json, the journal, the trail."""
        return (identity(self.state.state_path), identity(self.journal_path), _size(self.audit.path))

    def _unwritten(self, last_hash: str) -> list[dict[str, Any]]:
        """The journal's entries after the trail's last (``last_hash``): what a crash kept from the trail."""
        if not self.journal_path.exists():
            return []
        lines, _ = self.state.journal()
        return [dict(entry) for entry in _after([line.entry for line in lines if line.entry is not None], last_hash) or []]

    def _recorded_fence(self) -> int:
        lines, _ = self.state.journal() if self.journal_path.exists() else ([], ())
        return max((line.fence for line in lines), default=0)

    # --- what only some commands need ------------------------------------------------------

    def repair(self, lease: Lease) -> RepairResult:
        """``audit verify --repair``: a torn last line of the trail set aside and the repair recorded."""
        with self._mutex, self.locker.fenced(lease):
            report, torn = self.audit._verify_from_head()
            if torn is None:
                if report.ok:
                    return RepairResult(repaired=False)
                raise AuditError(f"{self.audit.path} cannot be repaired: {report.problem}", hint="only a torn last line (a crash) is repairable; restore the trail from a backup")
            if report.first_bad_line != report.entries + 1:
                raise AuditError(f"{self.audit.path} cannot be repaired: {report.problem}", hint="only a torn last line (a crash) is repairable; restore the trail from a backup")
            fragment, torn_path = self.audit.set_aside(torn)
            self._known = None
        fields = {"action": REPAIR_ACTION, "status": SUCCESS, "torn_fragment_sha256": sha256_hex(fragment), "torn_fragment_bytes": len(fragment), "torn_file": torn_path.name}
        (recorded,) = self.record(lease, [Change(audit_fields=fields)])
        return RepairResult(True, len(fragment), sha256_hex(fragment), str(torn_path), recorded.entry)

    def replace_state(self, lease: Lease, state: State) -> None:
        """``state migrate``: ``state`` written as it is (lineage and serial kept)."""
        with self._mutex, self.locker.fenced(lease):
            self._catch_up(lease)
            state = placed(state, self.audit.position_of)
            atomic_write_text(self.state.state_path, state.to_json(), backup=True)
            remove_durably(self.journal_path)
            self.state.lineage = state.lineage
            self._known = None

    def append_verbatim(self, lease: Lease, entries: Iterable[dict[str, Any]]) -> int:
        """``state migrate``: entries chained elsewhere, unchanged, in one durable write; refused,
        with nothing written, unless they chain onto this trail."""
        with self._mutex, self.locker.fenced(lease):
            known = self._catch_up(lease)
            last = known.last_hash
            lines: list[str] = []
            for entry in entries:
                if entry.get("prev_hash") != last:
                    raise AuditError(f"entry {len(lines) + 1} to copy does not chain onto {self.audit.path}; nothing was copied")
                last = str(entry["entry_hash"])
                lines.append(canonical_json(entry) + "\n")
            if lines:
                append_bytes_durably(self.audit.path, "".join(lines).encode("utf-8"))
            self._known = None
            return len(lines)

    def enqueue(self, lease: Lease, events: Iterable[Mapping[str, Any]]) -> None:
        """``state migrate``: events still waiting for delivery, made durable here."""
        with self._mutex, self.locker.fenced(lease):
            self.outbox.append_lines(canonical_json(dict(event)) for event in events)
            self.outbox.sync()

    def discard(self, lease: Lease) -> str:
        """``state migrate --discard-target``: the records moved into a folder of their own beside the lock, kept."""
        with self._mutex, self.locker.fenced(lease):
            committed = self.state.read().committed
            aside = self.directory / f"discarded-{committed.lineage if committed is not None else 'records'}-{utc_now().replace(':', '')}"
            aside.mkdir()
            for name in (STATE_FILE, BACKUP_FILE, JOURNAL_FILE, AUDIT_FILE, AUDIT_FILE + ".head", AUDIT_FILE + ".torn", OUTBOX_FILE, OUTBOX_FILE + ".delivered"):
                if (self.directory / name).exists():
                    os.replace(self.directory / name, aside / name)
            fsync_directory(aside)
            fsync_directory(self.directory)
            self.state.lineage = None
            self._known = None
            return str(aside)

    def remember_drift(self, result: Mapping[str, Any]) -> None:
        """``drift.json``, replaced atomically: a reader sees the last result or the one before, never half."""
        atomic_write_text(self.directory / DRIFT_FILE, canonical_json(dict(result)) + "\n")

    def last_drift(self) -> dict[str, Any] | None:
        try:
            result = json.loads((self.directory / DRIFT_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise StateError(f"{self.directory / DRIFT_FILE} is unreadable: {error}", hint="run `llmplan drift` again to replace it") from None
        return result if isinstance(result, dict) else None

    def close(self) -> None:
        """Nothing to release: every write is already durable."""


class _Known:
    """The writer's view while it holds the lease: the committed state, the journal's lines, and where the trail ends."""

    def __init__(self, token: int, committed: State | None, files: tuple[Any, ...], lines: list[JournalLine], lineage: str, last_hash: str, audit_size: int) -> None:
        self.token = token  # the lease it was read under: another holding reads afresh
        self.committed = committed
        self.files = files  # the identities of the files as this writer left them
        self.lines = lines
        self.lineage = lineage
        self.last_hash = last_hash
        self.audit_size = audit_size


def _after(entries: Sequence[Mapping[str, Any]], last_hash: str) -> list[Mapping[str, Any]] | None:
    """The entries after the one hashed ``last_hash`` (all of them if they start right after it); None if they do not chain on."""
    for index, entry in enumerate(entries):
        if entry.get("entry_hash") == last_hash:
            return list(entries[index + 1 :])
    if not entries or entries[0].get("prev_hash") == last_hash:
        return list(entries)
    return None


def _named(state: State, environment: str) -> State:
    """``state`` naming its environment (a state written before states did gets the name at its next commit)."""
    if state.environment == environment:
        return state
    if state.environment is not None:
        raise StateError(f"the state belongs to environment {state.environment}, not {environment}; refusing to write it")
    return State(state.lineage, state.serial, state.resources, state.format_version, state.tool_version, state.audit_head, environment)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _new_lineage() -> str:
    return State.empty().lineage


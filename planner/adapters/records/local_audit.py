"""The audit trail in ``state/<env>/audit.jsonl``: one canonical JSON entry per line.

Entries reach the file from the journal: :class:`~planner.adapters.records.local.LocalRecords`
makes each unit of work durable as one journal line, then appends its entry
here, and after a crash catches this file up from the journal. Until then,
reading includes the journal's entries the file lacks, so every reader sees
one chain. A torn last line (a crash of an llmplan that wrote here
directly, or a disk that lost a write the journal holds) is never chained
onto: it is set aside in ``audit.jsonl.torn``.

``audit.jsonl.head`` is the checkpoint: the entry count, the last hash and
the byte offset where they end (so lines removed from the end are noticed),
plus the oldest operation still unsettled. Commands read the trail only from
there; the full chain is read by ``audit verify`` alone, line by line. Every
entry's byte offset is its position: a state names its vouching entry's, so
checking it reads one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from planner.adapters.files import Line, append_bytes, append_bytes_durably, atomic_write_text, fsync_file, iter_lines, truncate_durably
from planner.adapters.records.chain import GENESIS_HASH, ChainCheck, hash_holds, track_unsettled
from planner.adapters.records.interfaces import AuditReport, RecentEntries
from planner.adapters.records.trail_file import Scanned, first_at_or_after, last_line, scan
from planner.model.configuration import canonical_json
from planner.model.errors import AuditError

AUDIT_FILE = "audit.jsonl"
REPAIR_HINT = "run `llmplan audit verify --env ENV --repair` (it keeps the torn fragment in audit.jsonl.torn)"


@dataclass(frozen=True)
class Head:
    """The checkpoint: ``entries`` lines ending at byte ``offset`` with ``entry_hash``;
    the oldest unsettled operation starts at entry ``unsettled_entries + 1``, byte ``unsettled_offset``."""

    entries: int
    entry_hash: str
    offset: int
    unsettled_entries: int
    unsettled_offset: int

    def to_json(self) -> str:
        return canonical_json(self.__dict__) + "\n"


class LocalAuditTrail:
    """``state/<env>/audit.jsonl`` and its checkpoint, for the environment named ``environment``.

    ``unwritten`` returns the entries the journal holds that the file does
    not yet (after a crash, until the next writer catches up): readers see
    them at the end of the trail. Writing is :class:`~planner.adapters.records.local.LocalRecords`'s,
    under the environment's lock.
    """

    def __init__(self, path: Path, *, environment: str, unwritten: Callable[[str], list[dict[str, Any]]] | None = None) -> None:
        self.path = Path(path)
        self.environment = environment
        self.torn_path = self.path.with_name(self.path.name + ".torn")
        self.head_path = self.path.with_name(self.path.name + ".head")
        self._unwritten = unwritten or (lambda last_hash: [])

    def __repr__(self) -> str:
        return f"LocalAuditTrail({str(self.path)!r})"

    # --- what the writer needs -----------------------------------------------

    def tail(self) -> tuple[str, int, Line | None]:
        """The last complete entry's hash, the byte offset where complete lines end, and a torn last line if there is one."""
        size = self.path.stat().st_size if self.path.exists() else 0
        last = last_line(self.path, size)
        torn = None
        if last and not last.endswith(b"\n"):
            torn = Line(size - len(last), last, False)
            size -= len(last)
            last = last_line(self.path, size)
        if not last:
            return GENESIS_HASH, size, torn
        try:
            entry = json.loads(last)
        except ValueError:
            return GENESIS_HASH, size - len(last), Line(size - len(last), last[:-1], True)
        if not isinstance(entry, dict) or not isinstance(entry.get("entry_hash"), str):
            raise AuditError(f"{self.path}: the last line has no entry_hash; refusing to chain onto it", hint="run `llmplan audit verify` to see what is wrong")
        return str(entry["entry_hash"]), size, torn

    def append_lines(self, texts: Iterable[str]) -> None:
        """Append complete lines in one write; the journal already holds them durably, so no fsync here (:meth:`sync` at commit)."""
        data = "".join(text + "\n" for text in texts).encode("utf-8")
        if data:
            append_bytes(self.path, data)

    def sync(self) -> None:
        """Make every appended line durable (before the journal that holds them is removed)."""
        fsync_file(self.path)

    def set_aside(self, torn: Line) -> tuple[bytes, Path]:
        """Move a torn last line to ``audit.jsonl.torn``. Crash-safe in this order: the fragment
        is saved before it is cut, so it can be duplicated in the .torn file but never lost."""
        fragment = torn.raw + (b"\n" if torn.complete else b"")
        append_bytes_durably(self.torn_path, fragment if fragment.endswith(b"\n") else fragment + b"\n")
        truncate_durably(self.path, torn.offset)
        return fragment, self.torn_path

    def checkpoint(self) -> None:
        """Move the head to the end of the trail; reads only what was written since the last one."""
        head = self._head()
        if isinstance(head, str):
            return  # an unreadable head is verify's to report, not ours to paper over
        start = head or Head(0, GENESIS_HASH, 0, 0, 0)
        check = ChainCheck(previous=start.entry_hash, number=start.entries)
        number, end, last_hash = start.unsettled_entries, start.unsettled_offset, start.entry_hash
        unsettled: dict[str, tuple[int, int]] = {}
        for scanned in scan(self.path, start.unsettled_offset):
            if scanned.entry is None or not isinstance(scanned.entry, dict):
                break  # torn or bad: anchor nothing past it
            number += 1
            if scanned.line.offset >= start.offset and not check.feed(scanned.entry, scanned.line.raw):
                return  # a broken chain is verify's to report
            end, last_hash = scanned.line.end, check.previous
            track_unsettled(unsettled, scanned.entry, number - 1, scanned.line.offset)
        if number == 0 or (head is not None and number == head.entries):
            return
        oldest = min(unsettled.values(), default=(number, end))
        atomic_write_text(self.head_path, Head(number, last_hash, end, oldest[0], oldest[1]).to_json())

    # --- reading ---------------------------------------------------------

    def recent(self) -> RecentEntries:
        head = self._head()
        if isinstance(head, str):
            raise AuditError(f"{self.head_path}: {head}", hint="run `llmplan audit verify` to see what is wrong")
        start = head or Head(0, GENESIS_HASH, 0, 0, 0)
        entries: list[dict[str, Any]] = []
        last_hash = start.entry_hash if start.unsettled_offset == start.offset else GENESIS_HASH
        for scanned in scan(self.path, start.unsettled_offset):
            if scanned.bad is not None:
                raise AuditError(f"{self.path} line {start.unsettled_entries + len(entries) + 1}: {scanned.bad}", hint="run `llmplan audit verify`")
            if isinstance(scanned.entry, dict):
                entries.append(scanned.entry)
                last_hash = str(scanned.entry.get("entry_hash"))
        if not entries and start.entries:
            last_hash = start.entry_hash
        entries.extend(self._unwritten(last_hash))
        return RecentEntries(tuple(entries), start.entries - start.unsettled_entries)

    def entry_at(self, position: int) -> dict[str, Any] | None:
        """The entry whose line starts at byte ``position``; None if no complete entry starts there."""
        try:
            with open(self.path, "rb") as handle:
                if position > 0:
                    handle.seek(position - 1)
                    if handle.read(1) != b"\n":
                        return None  # not the start of a line
                handle.seek(position)
                raw = handle.readline()
        except FileNotFoundError:
            return None
        if not raw.endswith(b"\n"):
            return None
        try:
            entry = json.loads(raw)
        except ValueError:
            return None
        return entry if isinstance(entry, dict) and hash_holds(entry, raw[:-1]) else None

    def position_of(self, entry_hash: str) -> int | None:
        """Where the entry hashed ``entry_hash`` starts (a scan: for ``state migrate``, which places a state copied from elsewhere)."""
        for scanned in scan(self.path):
            if isinstance(scanned.entry, dict) and scanned.entry.get("entry_hash") == entry_hash:
                return scanned.line.offset
        return None

    def checkpointed(self) -> dict[str, Any] | None:
        """The entry the checkpoint ends at, read without reading the rest; None if there is none."""
        head = self._head()
        if not isinstance(head, Head):
            return None
        try:
            anchored = json.loads(last_line(self.path, head.offset))
        except ValueError:
            return None
        return anchored if isinstance(anchored, dict) else None

    def entries(self, *, model_id: str | None = None, position: int | None = None) -> Iterator[dict[str, Any]]:
        """Complete entries in order (a torn last line is skipped), optionally of one model, from ``position`` on; streamed."""
        wanted = model_id.lower() if model_id is not None else None
        last_hash = GENESIS_HASH
        for number, scanned in enumerate(scan(self.path, position or 0), start=1):
            if scanned.bad is not None:
                raise AuditError(f"{self.path} line {number}: {scanned.bad}", hint="run `llmplan audit verify`")
            entry = scanned.entry
            if isinstance(entry, dict):
                last_hash = str(entry.get("entry_hash"))
                if wanted is None or str(entry.get("model_id", "")).lower() == wanted:
                    yield entry
        if position and last_hash == GENESIS_HASH:
            last_hash = self.tail()[0]
        for entry in self._unwritten(last_hash):
            if wanted is None or str(entry.get("model_id", "")).lower() == wanted:
                yield entry

    def entries_since(self, since: str) -> Iterator[dict[str, Any]]:
        """Entries stamped at or after ``since``, streamed from where a binary search over the
        file's byte offsets finds the first of them: entries are appended in time order, so
        the history before the window is never read (about 20 probes for a million lines)."""
        offset = first_at_or_after(self.path, since)
        for scanned in scan(self.path, offset):
            if scanned.bad is not None:
                raise AuditError(f"{self.path} at byte {scanned.line.offset}: {scanned.bad}", hint="run `llmplan audit verify`")
            entry = scanned.entry
            if isinstance(entry, dict) and str(entry.get("timestamp", "")) >= since:
                yield entry

    def verify(self) -> AuditReport:
        """The whole chain, line by line in constant memory; names the first bad line."""
        head = self._head()
        check = ChainCheck(environment=self.environment)
        report = self._check(check, scan(self.path), head) or self._check_unwritten(check)
        if report is not None:
            return report
        if isinstance(head, str):
            return AuditReport(False, check.number, 1, f"line 1: {self.head_path.name} {head}")
        if head is not None and check.number < head.entries:
            return self._missing(head, check.number)
        return AuditReport(True, check.number)

    def verify_recent(self) -> AuditReport:
        """The chain from the checkpoint on, and that the checkpointed end is still there unchanged."""
        return self._verify_from_head()[0]

    def _verify_from_head(self) -> tuple[AuditReport, Line | None]:
        head = self._head()
        if isinstance(head, str):
            return AuditReport(False, 0, 1, f"line 1: {self.head_path.name} {head}"), None
        if head is None:
            check = ChainCheck(environment=self.environment)
            torn: list[Line] = []
            report = self._check(check, scan(self.path), None, torn) or self._check_unwritten(check)
            return report or AuditReport(True, check.number), (torn[0] if torn else None)
        size = self.path.stat().st_size if self.path.exists() else 0
        if size < head.offset:
            return self._missing(head, None), None
        last = last_line(self.path, head.offset)
        try:
            entry = json.loads(last)
            anchored = isinstance(entry, dict) and entry.get("entry_hash") == head.entry_hash and hash_holds(entry, last[:-1])
        except ValueError:
            anchored = False
        if not anchored:
            problem = f"line {head.entries}: does not match the hash recorded in {self.head_path.name} (the trail was rewritten)"
            return AuditReport(False, head.entries, head.entries, problem), None
        check = ChainCheck(previous=head.entry_hash, number=head.entries, environment=self.environment)
        torn = []
        report = self._check(check, scan(self.path, head.offset), None, torn) or self._check_unwritten(check)
        return report or AuditReport(True, check.number), (torn[0] if torn else None)

    def _check_unwritten(self, check: ChainCheck) -> AuditReport | None:
        """The journal's entries the file lacks, after it: part of the chain until the next writer appends them."""
        for entry in self._unwritten(check.previous):
            if not check.feed(entry):
                return AuditReport(False, check.number, check.first_bad, check.problem)
        return None

    def _check(self, check: ChainCheck, lines: Iterator[Scanned], head: Head | str | None, torn: list[Line] | None = None) -> AuditReport | None:
        """Feed ``lines`` to ``check``; a report if something is wrong, else None."""
        for scanned in lines:
            if scanned.torn:
                if torn is not None:
                    torn.append(scanned.line)
                number = check.number + 1
                return AuditReport(False, check.number, number, f"line {number}: torn last line (incomplete write, probably a crash)", True)
            if scanned.bad is not None:
                number = check.number + 1
                return AuditReport(False, check.number, number, f"line {number}: {scanned.bad} (edited or corrupted)")
            if not check.feed(scanned.entry, scanned.line.raw):
                return AuditReport(False, check.number, check.first_bad, check.problem)
            if isinstance(head, Head) and check.number == head.entries and check.previous != head.entry_hash:
                problem = f"line {check.number}: does not match the hash recorded in {self.head_path.name} (the trail was rewritten)"
                return AuditReport(False, check.number, check.number, problem)
        return None

    def _missing(self, head: Head, count: int | None) -> AuditReport:
        found = f"the log has {count}" if count is not None else "the log ends before them"
        problem = f"line {(count or 0) + 1}: missing: {self.head_path.name} records {head.entries} entries but {found} (lines were removed from the end)"
        return AuditReport(False, count or 0, (count or 0) + 1, problem)

    def _head(self) -> Head | str | None:
        """The checkpoint; None if there is none; a problem (str) if it is unreadable.

        A head written before offsets were recorded is upgraded by one scan
        of the trail (the next checkpoint writes the new form).
        """
        try:
            data = json.loads(self.head_path.read_text(encoding="utf-8"))
            entries, entry_hash = int(data["entries"]), str(data["entry_hash"])
            if entries < 1:
                raise ValueError("no entries")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return "is unreadable (edited or corrupted)"
        if "offset" in data:
            try:
                return Head(entries, entry_hash, int(data["offset"]), int(data["unsettled_entries"]), int(data["unsettled_offset"]))
            except (KeyError, TypeError, ValueError):
                return "is unreadable (edited or corrupted)"
        offset = 0
        for number, line in enumerate(iter_lines(self.path), start=1):
            if number > entries:
                break
            offset = line.end
        return Head(entries, entry_hash, offset, 0, 0)

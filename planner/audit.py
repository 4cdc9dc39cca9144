"""The audit trail: an append-only, hash-chained JSON-lines file per environment.

Each entry carries ``prev_hash`` (the ``entry_hash`` of the line before, 64
zeros on the first) and ``entry_hash`` (sha256 of the canonical JSON of the
entry without ``entry_hash``). An edited line no longer matches its own hash;
a removed, inserted or reordered line breaks the link to its neighbour.
Removing lines from the *end* leaves a shorter chain that is still valid, so
:meth:`AuditLog.checkpoint` records the head (count and last hash) in
``audit.jsonl.head``; verify then notices a log shorter than its head.

Appends are fsynced before they return, under a thread lock and an ``flock``
on the file, so threads of one apply and processes one after another chain
correctly. A crash mid-append can leave a torn last line; it is never chained
onto: :meth:`AuditLog.repair` moves it to ``audit.jsonl.torn`` and records
the repair as an entry of its own.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from planner import schemas
from planner.clock import utc_now
from planner.configuration import canonical_json, sha256_hex
from planner.errors import AuditError
from planner.files import (
    JsonLines,
    append_bytes_durably,
    append_line_durably,
    atomic_write_text,
    exclusive_lock,
    read_json_lines,
    truncate_durably,
)

AUDIT_FILE = "audit.jsonl"
GENESIS_HASH = "0" * 64
REPAIR_ACTION = "audit_repair"
REPAIR_HINT = "run `llmplan audit verify --env ENV --repair` (it keeps the torn fragment in audit.jsonl.torn)"


def entry_hash(entry: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of ``entry`` without its own ``entry_hash``."""
    return sha256_hex(canonical_json({key: value for key, value in entry.items() if key != "entry_hash"}))


@dataclass(frozen=True)
class AuditReport:
    """Outcome of :meth:`AuditLog.verify`.

    ``entries``: complete lines read. ``first_bad_line`` is 1-based and
    ``problem`` says in plain words what is wrong there. ``torn_tail``: the
    last line is an incomplete write (a crash); :meth:`AuditLog.repair` fixes
    that case and only that one.
    """

    ok: bool
    entries: int
    first_bad_line: int | None = None
    problem: str | None = None
    torn_tail: bool = False

    def raise_if_broken(self, environment: str) -> None:
        if self.ok:
            return
        hint = (
            f"run `llmplan audit verify --env {environment} --repair` to set the torn line aside"
            if self.torn_tail
            else "restore the file from Git history or a backup; do not edit it by hand"
        )
        raise AuditError(f"audit trail of {environment} does not verify: {self.problem}", hint=hint)


@dataclass(frozen=True)
class RepairResult:
    """What :meth:`AuditLog.repair` did; ``repaired`` is False when there was nothing to do."""

    repaired: bool
    fragment_bytes: int = 0
    fragment_sha256: str | None = None
    torn_path: Path | None = None
    entry: Mapping[str, Any] | None = None


class AuditLog:
    """``state/<env>/audit.jsonl``. ``clock`` returns the timestamp text (RFC 3339, UTC, ms)."""

    def __init__(self, path: Path, *, clock: Callable[[], str] = utc_now) -> None:
        self.path = Path(path)
        self.torn_path = self.path.with_name(self.path.name + ".torn")
        self.head_path = self.path.with_name(self.path.name + ".head")
        self._clock = clock
        self._mutex = threading.Lock()

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"

    # --- writing ---------------------------------------------------------

    def append(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Add one entry, durable on return; returns it with its id, timestamp and hashes.

        Refused (AuditError, nothing written) if the fields break the audit
        entry schema, or if the file ends with a torn line: chaining onto
        garbage would make the whole rest of the trail unverifiable.
        """
        with self._mutex, exclusive_lock(self.path):
            return self._append_locked(fields)

    def _append_locked(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        if "prev_hash" in fields or "entry_hash" in fields:
            raise AuditError("prev_hash and entry_hash are computed by the audit log; do not pass them")
        entry = dict(fields)
        entry.setdefault("audit_id", str(uuid.uuid4()))
        entry.setdefault("timestamp", self._clock())
        entry["prev_hash"] = self._last_hash()
        try:
            entry["entry_hash"] = entry_hash(entry)
        except (TypeError, ValueError) as error:
            raise AuditError(f"audit entry is not plain JSON data (NaN, a set, an object…): {error}") from error
        problems = _schema_problems(entry)
        if problems:
            raise AuditError(f"audit entry does not match schemas/{schemas.AUDIT_ENTRY}: " + "; ".join(problems))
        append_line_durably(self.path, canonical_json(entry))
        return entry

    def _last_hash(self) -> str:
        """entry_hash of the last line, reading only the end of the file."""
        tail = _last_line(self.path)
        if not tail:
            return GENESIS_HASH
        if not tail.endswith(b"\n"):
            raise self._torn_error()
        try:
            last = json.loads(tail.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise self._torn_error() from None
        if not isinstance(last, dict) or not isinstance(last.get("entry_hash"), str):
            raise AuditError(f"{self.path}: the last line has no entry_hash; refusing to chain onto it", hint="run `llmplan audit verify` to see what is wrong")
        return str(last["entry_hash"])

    def _torn_error(self) -> AuditError:
        return AuditError(f"{self.path} ends with a torn line (an incomplete write, probably a crash); refusing to chain onto it", hint=REPAIR_HINT)

    def checkpoint(self) -> None:
        """Record the head (entry count and last hash) so that lines removed from the end are detected.

        Cheap enough for the end of an apply (one read of the log, one atomic
        write); entries appended after the last checkpoint are covered by the
        next one.
        """
        with self._mutex, exclusive_lock(self.path):
            content = read_json_lines(self.path)
            if content.torn or content.bad_line is not None or not content.records:
                return  # nothing trustworthy to anchor; verify reports the problem
            last = content.records[-1]
            if isinstance(last, dict) and isinstance(last.get("entry_hash"), str):
                head = {"entries": len(content.records), "entry_hash": last["entry_hash"]}
                atomic_write_text(self.head_path, canonical_json(head) + "\n")

    def repair(self) -> RepairResult:
        """Move a torn last line to ``audit.jsonl.torn`` and record the repair in the chain.

        Anything else that fails verification is not repairable: AuditError
        names the first bad line. Crash-safe in this order: the fragment is
        saved before it is cut, so it can be duplicated in the .torn file but
        never lost.
        """
        with self._mutex, exclusive_lock(self.path):
            content = read_json_lines(self.path)
            report = self._check(content)
            if not content.torn:
                if report.ok:
                    return RepairResult(repaired=False)
                raise AuditError(f"{self.path} cannot be repaired: {report.problem}", hint="only a torn last line (a crash) is repairable; restore the trail from a backup")
            if report.first_bad_line != len(content.records) + 1:
                raise AuditError(f"{self.path} cannot be repaired: {report.problem}", hint="only a torn last line (a crash) is repairable; restore the trail from a backup")
            assert content.torn_offset is not None
            fragment = content.torn_fragment
            append_bytes_durably(self.torn_path, fragment if fragment.endswith(b"\n") else fragment + b"\n")
            truncate_durably(self.path, content.torn_offset)
            entry = self._append_locked(
                {
                    "action": REPAIR_ACTION,
                    "status": "success",
                    "torn_fragment_sha256": sha256_hex(fragment),
                    "torn_fragment_bytes": len(fragment),
                    "torn_file": self.torn_path.name,
                }
            )
        return RepairResult(True, len(fragment), sha256_hex(fragment), self.torn_path, entry)

    # --- reading ---------------------------------------------------------

    def entries(self, *, model_id: str | None = None) -> list[dict[str, Any]]:
        """Complete entries in order (a torn last line is skipped), optionally of one model."""
        content = read_json_lines(self.path)
        if content.bad_line is not None:
            raise AuditError(f"{self.path} line {content.bad_line}: {content.bad_reason}", hint="run `llmplan audit verify`")
        wanted = model_id.lower() if model_id is not None else None
        return [
            dict(entry)
            for entry in content.records
            if isinstance(entry, dict) and (wanted is None or str(entry.get("model_id", "")).lower() == wanted)
        ]

    def verify(self) -> AuditReport:
        """Check the whole chain; names the first bad line. Reads only; changes nothing."""
        return self._check(read_json_lines(self.path))

    def _check(self, content: JsonLines) -> AuditReport:
        count = len(content.records)
        torn = content.torn

        def bad(line: int, problem: str) -> AuditReport:
            return AuditReport(False, count, line, f"line {line}: {problem}", torn)

        previous = GENESIS_HASH
        for number, entry in enumerate(content.records, start=1):
            if not isinstance(entry, dict):
                return bad(number, "not a JSON object (edited or corrupted)")
            try:
                recomputed = entry_hash(entry)
            except ValueError:  # NaN or Infinity: never written by us
                return bad(number, "holds a value that is not plain JSON (edited?)")
            if entry.get("entry_hash") != recomputed:
                return bad(number, "entry_hash does not match its content (edited?)")
            if entry.get("prev_hash") != previous:
                if number == 1:
                    return bad(number, "prev_hash is not the start of a chain (lines were removed from the beginning?)")
                return bad(number, f"prev_hash does not match line {number - 1} (a line was removed, inserted or reordered)")
            # No schema check here: append() refuses invalid entries, so a line whose hash holds was
            # valid when written, and skipping it keeps verify at ~15 µs a line.
            previous = entry["entry_hash"]
        if content.bad_line is not None:
            return bad(content.bad_line, f"{content.bad_reason} (edited or corrupted)")
        head_problem = self._check_head(content)
        if head_problem is not None:
            return bad(*head_problem)
        if torn:
            return bad(count + 1, "torn last line (incomplete write, probably a crash)")
        return AuditReport(True, count)

    def _check_head(self, content: JsonLines) -> tuple[int, str] | None:
        try:
            head = json.loads(self.head_path.read_text(encoding="utf-8"))
            expected, expected_hash = int(head["entries"]), str(head["entry_hash"])
            if expected < 1:
                raise ValueError("no entries")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return (1, f"{self.head_path.name} is unreadable (edited or corrupted)")
        count = len(content.records)
        if count < expected:
            return (count + 1, f"missing: {self.head_path.name} records {expected} entries but the log has {count} (lines were removed from the end)")
        if content.records[expected - 1].get("entry_hash") != expected_hash:
            return (expected, f"does not match the hash recorded in {self.head_path.name} (the log was rewritten)")
        return None


def _schema_problems(entry: Mapping[str, Any]) -> list[str]:
    problems = []
    for error in schemas.validator(schemas.AUDIT_ENTRY).iter_errors(entry):
        path = ".".join(str(part) for part in error.absolute_path)
        problems.append(f"{path}: {error.message}" if path else error.message)
    return sorted(problems)


def _last_line(path: Path, block: int = 8192) -> bytes:
    """The last line of ``path`` with its newline (or the torn fragment); b"" for an absent or empty file."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return b""
    with handle:
        handle.seek(0, 2)
        position = handle.tell()
        buffer = b""
        while position > 0:
            step = min(block, position)
            position -= step
            handle.seek(position)
            buffer = handle.read(step) + buffer
            start = buffer.rfind(b"\n", 0, len(buffer) - 1)
            if start != -1:
                return buffer[start + 1 :]
        return buffer

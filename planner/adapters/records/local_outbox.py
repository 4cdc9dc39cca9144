"""The governance outbox in files: ``state/<env>/outbox.jsonl`` and ``outbox.jsonl.delivered``.

Every event is durable in the journal with its change before it is sent,
and appended here from it (:class:`~planner.adapters.records.local.LocalRecords`,
which also catches this file up after a crash). A delivery appends its id
to ``outbox.jsonl.delivered`` (O(1) per event on the hot path);
:meth:`LocalOutbox.compact` drops delivered events from the outbox and
clears the marks. A crash between a send and its mark means the event is
sent again; receivers deduplicate by its stable id.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Iterable

from planner.adapters.files import append_bytes, append_line_durably, atomic_write_text, fsync_file, read_json_lines, remove_durably, truncate_durably
from planner.model.configuration import canonical_json

log = logging.getLogger("llmplan.governance")

OUTBOX_FILE = "outbox.jsonl"


class LocalOutbox:
    """Thread-safe within a process; two processes never flush one outbox at once (they hold the environment's lock)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.delivered_path = self.path.with_name(self.path.name + ".delivered")
        self._mutex = threading.Lock()
        self._clean_tails: set[Path] = set()

    def __repr__(self) -> str:
        return f"LocalOutbox({str(self.path)!r})"

    def append_lines(self, texts: Iterable[str]) -> None:
        """Append events (canonical JSON, one a line) in one write; the journal holds them durably (:meth:`sync` at commit)."""
        lines = list(texts)
        if not lines:
            return
        with self._mutex:
            self._append(self.path, "\n".join(lines), durable=False)

    def sync(self) -> None:
        fsync_file(self.path)

    def _append(self, path: Path, line: str, *, durable: bool = True) -> None:
        """Append durably; the first time per file, cut a torn last line left by a crash,
        which the new line would otherwise be glued to. Call with the mutex held."""
        if path not in self._clean_tails:
            content = read_json_lines(path)
            if content.torn_offset is not None:
                truncate_durably(path, content.torn_offset)
                self._warn(f"{path}: removed a torn last line ({len(content.torn_fragment)} bytes, an incomplete write from a crash)")
            self._clean_tails.add(path)
        self._clean_tails.discard(path)  # until this append is known complete
        if durable:
            append_line_durably(path, line)
        else:
            append_bytes(path, (line + "\n").encode("utf-8"))
        self._clean_tails.add(path)

    def pending(self) -> list[dict[str, Any]]:
        with self._mutex:
            return self._pending()

    def _pending(self) -> list[dict[str, Any]]:
        delivered = {record.get("event_id") for record in read_json_lines(self.delivered_path).records if isinstance(record, dict)}
        outbox = read_json_lines(self.path)
        if outbox.bad_line is not None:
            self._warn(f"{self.path} line {outbox.bad_line} is corrupted ({outbox.bad_reason}); events after it are not read")
        seen: set[str] = set()
        events = []
        for event in outbox.records:
            if not isinstance(event, dict) or not isinstance(event.get("event_id"), str):
                continue
            if event["event_id"] in delivered or event["event_id"] in seen:
                continue
            seen.add(event["event_id"])
            events.append(event)
        return events

    def queued_ids(self) -> set[str]:
        with self._mutex:
            return {str(event.get("event_id")) for event in read_json_lines(self.path).records if isinstance(event, dict)}

    def mark_delivered(self, event_id: str) -> None:
        try:
            with self._mutex:
                self._append(self.delivered_path, canonical_json({"event_id": event_id}))
        except OSError as error:
            # Delivered but not marked: it will be sent again, and the receiver deduplicates by event id.
            self._warn(f"governance event {event_id} was delivered but could not be marked in {self.delivered_path} ({error.strerror or error.__class__.__name__})")

    def compact(self) -> None:
        """Rewrite the outbox with only pending events, then clear the delivered marks.

        Crash-safe in this order: a crash in between leaves marks for events
        no longer in the outbox, which are ignored.
        """
        with self._mutex:
            if not self.path.exists():
                remove_durably(self.delivered_path)
                return
            remaining = self._pending()
            outbox = read_json_lines(self.path)
            if outbox.bad_line is not None:
                return  # keep the corrupted file for a human rather than rewrite around it
            if len(remaining) == len(outbox.records) and not outbox.torn:
                return
            if remaining:
                atomic_write_text(self.path, "".join(canonical_json(event) + "\n" for event in remaining))
            else:
                remove_durably(self.path)
            remove_durably(self.delivered_path)
            self._clean_tails.clear()

    def _warn(self, message: str) -> None:
        log.warning("%s", message)

"""The local-files backend: an environment's records under ``state/<env>/``.

Embedded, nothing to install: what ``make demo`` uses, and right for one
person or one CI runner (with ``state/`` committed to Git). Files:
``state.json`` (+ ``.backup``, ``journal.jsonl``), ``audit.jsonl`` (+
``.head``, ``.torn``), ``outbox.jsonl`` (+ ``.delivered``), ``.lock`` and
``lock.json``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Mapping

from planner.configuration import canonical_json
from planner.errors import StateError
from planner.files import atomic_write_text
from planner.records.interfaces import Recorded, RecordedChange
from planner.records.local_audit import AUDIT_FILE, LocalAuditStore
from planner.records.local_lock import LocalLocker
from planner.records.local_outbox import OUTBOX_FILE, LocalOutbox
from planner.records.local_state import LocalStateStore

DRIFT_FILE = "drift.json"  # the last drift check's result


class LocalRecords:
    """The four stores over one folder, and the unit of work in its durable order."""

    def __init__(self, directory: Path, *, environment: str | None = None) -> None:
        self.directory = Path(directory)
        environment = environment or self.directory.name
        self.name = f"local files in {self.directory}"
        self.state = LocalStateStore(self.directory, environment=environment)
        self.locker = LocalLocker(self.directory, environment=environment)
        self.audit = LocalAuditStore(self.directory / AUDIT_FILE)
        self.outbox = LocalOutbox(self.directory / OUTBOX_FILE)
        # journal, audit and outbox in the same order across threads
        self._mutex = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalRecords({str(self.directory)!r})"

    def record(self, change: RecordedChange) -> Recorded:
        """State journal, then audit entry, then outbox event, each fsynced
        before the next: a crash leaves a prefix, and the next run's settling
        completes it (a success without its event is announced then)."""
        with self._mutex:
            if change.resource is not None:
                self.state.record(change.resource)
            if change.forget is not None:  # after the record: a crash between them leaves the model recorded twice, never lost
                self.state.forget(change.forget)
            entry = self.audit.append(change.audit_fields)
            event = change.event_for(entry) if change.event_for is not None else None
            if event is not None:
                self.outbox.enqueue(event)
        return Recorded(entry, event)

    def remember_drift(self, result: Mapping[str, Any]) -> None:
        """``drift.json``, replaced atomically: a reader sees the last result or the one before, never half."""
        atomic_write_text(self.directory / DRIFT_FILE, canonical_json(result) + "\n")

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

"""The local-files backend: an environment's records under ``state/<env>/``.

Embedded, nothing to install: what ``make demo`` uses, and right for one
person or one CI runner (with ``state/`` committed to Git). Files:
``state.json`` (+ ``.backup``, ``journal.jsonl``), ``audit.jsonl`` (+
``.head``, ``.torn``), ``outbox.jsonl`` (+ ``.delivered``), ``.lock`` and
``lock.json``.
"""

from __future__ import annotations

import threading
from pathlib import Path

from planner.adapters.records.interfaces import Recorded, RecordedChange
from planner.adapters.records.local_audit import AUDIT_FILE, LocalAuditStore
from planner.adapters.records.local_lock import LocalLocker
from planner.adapters.records.local_outbox import OUTBOX_FILE, LocalOutbox
from planner.adapters.records.local_state import LocalStateStore


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

    def close(self) -> None:
        """Nothing to release: every write is already durable."""

"""The records commands: ``state show``/``list``, ``force-unlock``, ``audit verify``/``show``, ``governance flush``.

They need only the environment's folder and its ``state:`` block, not valid
YAML: that is when people look at state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from planner.adapters.governance import FlushResult
from planner.adapters.records.interfaces import AuditReport, Repairable, RepairResult
from planner.adapters.records.vouching import state_problems
from planner.app.connections import notifier, open_records, records_of
from planner.app.environments import load_environment
from planner.model.state import LockInfo, State


@dataclass(frozen=True)
class StateView:
    environment: str
    state: State | None
    lock: LockInfo | None
    warnings: tuple[str, ...]


def show_state(root: Path, env_name: str) -> StateView:
    records = records_of(root, env_name)
    try:
        snapshot = records.state.read()
        problems = state_problems(snapshot, records.audit, environment=records.environment, where=records.name)
        return StateView(env_name, snapshot.state, records.locker.holder(), (*problems, *snapshot.recoveries))
    finally:
        records.close()


def force_unlock(root: Path, env_name: str, lock_id: str) -> None:
    records = records_of(root, env_name)
    try:
        records.locker.force_unlock(lock_id)
    finally:
        records.close()


def verify_audit(root: Path, env_name: str, *, repair: bool = False, lock_timeout: float = 0.0) -> tuple[AuditReport, RepairResult | None]:
    """The whole chain, streamed; with ``repair``, a torn last entry set aside under the lock."""
    records = records_of(root, env_name)
    try:
        report = records.audit.verify()
        problems = state_problems(records.state.read(), records.audit, environment=records.environment, where=records.name) if report.ok else []
        if problems:  # the chain holds, but the state and the trail no longer vouch for each other
            return AuditReport(False, report.entries, None, "; ".join(problems)), None
        if not repair or report.ok or not report.torn_tail or not isinstance(records, Repairable):
            return report, None
        lease = records.locker.lock("audit repair", timeout=lock_timeout)
        try:
            result = records.repair(lease)
            return records.audit.verify(), result
        finally:
            records.locker.unlock(lease)
    finally:
        records.close()


def audit_entries(root: Path, env_name: str, *, model_id: str | None = None) -> Iterator[dict[str, Any]]:
    """The trail's entries, oldest first, streamed (the records stay open until the iteration ends)."""
    records = records_of(root, env_name)
    try:
        yield from records.audit.entries(model_id=model_id)
    finally:
        records.close()


def flush_governance(root: Path, env_name: str, *, lock_timeout: float = 0.0, environ: Mapping[str, str] | None = None) -> FlushResult | None:
    """Resend queued webhook deliveries, under the environment's lock so two
    flushes never send the same outbox twice."""
    environ = os.environ if environ is None else environ
    environment = load_environment(root, env_name)
    if environment.governance is None:
        return None
    records = open_records(environment, environ)
    try:
        sender = notifier(environment, records.outbox, environ)
        assert sender is not None
        lease = records.locker.lock("governance flush", timeout=lock_timeout)
        try:
            records.refresh(lease)  # the events an interrupted run kept only in its journal join the outbox first
            return sender.flush()
        finally:
            records.locker.unlock(lease)
    finally:
        records.close()

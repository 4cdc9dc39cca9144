"""``llmplan state migrate``: bring an environment's records from one backend to another.

Like ``terraform init -migrate-state``, but safe to run twice and in both
directions: the target is brought up to the source. The target must be
empty or hold the same lineage, no newer state, and an audit trail that is
a prefix of the source's (a checkout that migrated earlier and fell
behind); then the state is copied as it is (lineage and serial kept), the
audit entries the target lacks are appended unchanged (so the chain and
every hash carry over), and the governance events still waiting are queued
there. The source chain is verified before, the target's after; the
source is left as it was.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Any, Mapping

from planner.adapters.project import read_state_settings
from planner.adapters.records import open_records as open_backend
from planner.adapters.records.interfaces import AuditReport, Lease, Migratable, Records
from planner.model.errors import ConfigurationError, StateError


@dataclass(frozen=True)
class MigrationResult:
    source: str
    target: str
    serial: int
    lineage: str
    state_copied: bool
    entries_copied: int
    events_copied: int
    entries: int
    discarded: str | None = None  # where the target's records of another lineage were kept (--discard-target)

    @property
    def nothing_to_do(self) -> bool:
        return not self.state_copied and not self.entries_copied and not self.events_copied


def migrate_state(
    root: Path, env_name: str, *, source_backend: str | None = None, lock_timeout: float = 0.0, environ: Mapping[str, str] | None = None, discard_target: str | None = None
) -> MigrationResult:
    """Bring the environment's records to the backend its ``state:`` block names now, from the other one
    (or from ``source_backend``); like ``terraform init -migrate-state``, safe to run again."""
    environ = os.environ if environ is None else environ
    root = root.resolve()
    target_settings = read_state_settings(root, env_name)
    source_kind = source_backend or ("local" if target_settings.backend == "postgres" else "postgres")
    if source_kind == target_settings.backend:
        raise ConfigurationError(
            f"environment {env_name} already keeps its records in the {source_kind} backend; nothing to migrate from it to itself",
            hint="set state.backend in environment.yaml to the backend to move to, then run state migrate (--from names where the records are now)",
        )
    source = open_backend(env_name, root, replace(target_settings, backend=source_kind), environ=environ)
    try:
        target = open_backend(env_name, root, target_settings, environ=environ)
        try:
            return migrate(source, target, environment=env_name, lock_timeout=lock_timeout, discard_target=discard_target)
        finally:
            target.close()
    finally:
        source.close()


def migrate(source: Records, target: Records, *, environment: str, lock_timeout: float = 0.0, discard_target: str | None = None) -> MigrationResult:
    """Copy what ``target`` lacks from ``source``, both held under their locks."""
    if not isinstance(target, Migratable):
        raise StateError(f"{target.name} cannot take migrated records")
    source_lease = source.locker.lock("state migrate", timeout=lock_timeout)
    try:
        target_lease = target.locker.lock("state migrate", timeout=lock_timeout)
        try:
            return _copy(source, source_lease, target, target_lease, environment, discard_target)
        finally:
            target.locker.unlock(target_lease)
    finally:
        source.locker.unlock(source_lease)


def _copy(source: Records, source_lease: Lease, target: Any, target_lease: Lease, environment: str, discard_target: str | None) -> MigrationResult:
    """``target`` is a :class:`Records` that is also :class:`Migratable`."""
    _require_ok(source.audit.verify(), source.name, "before migrating")
    state = source.commit(source_lease) if source.refresh(source_lease).state is not None else None
    if state is None:
        raise StateError(f"{source.name} holds no state for environment {environment}; there is nothing to migrate", hint="check --env and --from")
    present = target.refresh(target_lease).state
    discarded = None
    if present is not None and present.lineage != state.lineage:
        if discard_target != present.lineage:
            raise StateError(
                f"{target.name} already holds a state of environment {environment} with another lineage ({present.lineage}, not {state.lineage}); refusing to overwrite it",
                hint=f"check it with `llmplan state show --env {environment}` (with state.backend naming that backend); if it is a fresh start to throw away, "
                f"`llmplan state migrate --env {environment} --discard-target {present.lineage}` keeps a copy of it aside, removes it, and migrates",
            )
        discarded = target.discard(target_lease)
        present = None
    if present is not None and present.serial > state.serial:
        raise StateError(f"{target.name} holds a newer state of environment {environment} (serial {present.serial} > {state.serial}); refusing to go back", hint="migrate in the other direction (--from)")
    target_report = target.audit.verify()
    _require_ok(target_report, target.name, "before migrating")
    already = target_report.entries
    source_entries = source.audit.entries()
    # streamed, keeping only the last entry of each: the trails may hold millions
    counted, prefix = 0, deque[dict[str, Any]](maxlen=1)
    for entry in islice(source_entries, already):
        counted += 1
        prefix.append(entry)
    if already:
        if counted < already:
            raise StateError(f"the audit trail in {target.name} is longer than the one in {source.name} ({already} entries); refusing to migrate over it")
        target_last = deque(target.audit.entries(), maxlen=1)
        if not target_last or prefix[-1].get("entry_hash") != target_last[-1].get("entry_hash"):
            raise StateError(f"the audit trail in {target.name} is not a beginning of the one in {source.name}: they have diverged; refusing to migrate")
    copied_entries = target.append_verbatim(target_lease, source_entries)
    state_copied = present is None or present.serial != state.serial or not present.same_content(state)
    if state_copied:
        target.replace_state(target_lease, state)
    queued = target.outbox.queued_ids()
    events = [event for event in source.outbox.pending() if str(event.get("event_id")) not in queued]
    target.enqueue(target_lease, events)
    target.commit(target_lease)
    after = target.audit.verify()
    _require_ok(after, target.name, "after migrating")
    return MigrationResult(source.name, target.name, state.serial, state.lineage, state_copied, copied_entries, len(events), after.entries, discarded)


def _require_ok(report: AuditReport, where: str, when: str) -> None:
    if not report.ok:
        raise StateError(f"the audit trail in {where} does not verify {when}: {report.problem}", hint="run `llmplan audit verify` on it; nothing was migrated")

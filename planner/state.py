"""State: what llmplan last applied to an environment, and who may change it now.

The interface (:class:`StateBackend`) is small on purpose — read, record,
forget, commit, lock, unlock — so a database backend can replace the file one
without touching apply.

The local backend keeps ``state/<env>/state.json`` (rewritten atomically, the
previous version kept as ``state.json.backup``) and an append-only
``journal.jsonl``: each :meth:`~LocalStateBackend.record` during an apply adds
one fsynced line, O(1) per model, instead of rewriting a 1,000-model state
after every PUT. :meth:`~LocalStateBackend.commit` folds the journal into
``state.json`` and deletes it. Folding is idempotent (a record sets, a forget
removes), so a crash between writing ``state.json`` and deleting the journal
is harmless: the next fold of the same lines changes nothing.

The lock is an ``flock`` on ``state/<env>/.lock`` held on an open descriptor,
so the OS releases it when the holder dies (``kill -9`` never leaves an
environment locked); ``lock.json`` beside it says who holds it.
"""

from __future__ import annotations

import copy
import fcntl
import getpass
import json
import os
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping, Protocol, Sequence

from planner import __version__, schemas
from planner.clock import utc_now
from planner.configuration import READ_ONLY_FIELDS, canonical_json, sha256_hex
from planner.errors import LockHeld, StateError
from planner.files import (
    append_line_durably,
    atomic_write_text,
    read_json_lines,
    remove_durably,
    truncate_durably,
)

FORMAT_VERSION = 1
_CHECKSUM_LINE = re.compile(rb'^\{"checksum": "([0-9a-f]{64})",$')

STATE_FILE = "state.json"
BACKUP_FILE = "state.json.backup"
JOURNAL_FILE = "journal.jsonl"
LOCK_FILE = ".lock"
LOCK_METADATA_FILE = "lock.json"

_NIL_LINEAGE = "00000000-0000-0000-0000-000000000000"


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    """A private deep copy behind a read-only view: the caller's dict can change, ours cannot."""
    return MappingProxyType(copy.deepcopy(dict(mapping)))


def _schema_problems(document: Mapping[str, Any], *, strip: int = 0) -> list[str]:
    """Every violation of the state schema, as ``path: message`` lines, sorted."""
    problems = []
    for error in schemas.validator(schemas.STATE).iter_errors(document):
        path = ".".join(str(part) for part in list(error.absolute_path)[strip:])
        problems.append(f"{path}: {error.message}" if path else error.message)
    return sorted(problems)


def _seal(document: dict[str, Any]) -> dict[str, Any]:
    """Add a checksum of the rest of the document: what we validated once need not be validated again."""
    return {**document, "checksum": sha256_hex(canonical_json(document))}


def _sealed_intact(document: Mapping[str, Any]) -> bool:
    """True if ``document`` is exactly as written by :func:`_seal` (no hand edit, no bit flip)."""
    checksum = document.get("checksum")
    if not isinstance(checksum, str):
        return False
    try:
        return sha256_hex(canonical_json({key: value for key, value in document.items() if key != "checksum"})) == checksum
    except (TypeError, ValueError):
        return False


def _refuse(source: str, problems: Sequence[str]) -> StateError:
    shown = "\n".join(f"  {problem}" for problem in problems[:10])
    more = f"\n  … and {len(problems) - 10} more" if len(problems) > 10 else ""
    return StateError(f"{source} does not match the state schema:\n{shown}{more}")


@dataclass(frozen=True)
class ResourceState:
    """The last successful apply of one model: what the gateway answered, and when.

    ``configuration`` holds the configuration fields of the gateway's 200 body
    (read-only fields stripped; the version is kept in ``version``), so plan
    can compare desired, recorded and live field for field. ``capabilities``
    are the model's capabilities as last seen, for offline capability checks.
    """

    address: str
    model_id: str
    configuration: Mapping[str, Any]
    version: int
    payload_hash: str
    applied_at: str
    capabilities: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.configuration, MappingProxyType):
            object.__setattr__(self, "configuration", _frozen(self.configuration))
        if self.capabilities is not None and not isinstance(self.capabilities, MappingProxyType):
            object.__setattr__(self, "capabilities", _frozen(self.capabilities))

    @classmethod
    def from_response(
        cls,
        address: str,
        body: Mapping[str, Any],
        *,
        payload_hash: str,
        applied_at: str | None = None,
        capabilities: Mapping[str, Any] | None = None,
    ) -> "ResourceState":
        """From the gateway's 200 answer to a PUT: read-only fields dropped, version kept."""
        configuration = {key: value for key, value in body.items() if key not in READ_ONLY_FIELDS}
        return cls(
            address=address,
            model_id=str(body.get("model_id", "")),
            configuration=configuration,
            version=body.get("version"),  # type: ignore[arg-type]  # checked by the schema on record()
            payload_hash=payload_hash,
            applied_at=applied_at or utc_now(),
            capabilities=capabilities,
        )

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._json_view())

    def _json_view(self) -> dict[str, Any]:
        """A shallow JSON-ready view sharing our (read-only) data: for serializing, never for handing out."""
        return {
            "address": self.address,
            "model_id": self.model_id,
            "configuration": dict(self.configuration),
            "version": self.version,
            "payload_hash": self.payload_hash,
            "applied_at": self.applied_at,
            "capabilities": None if self.capabilities is None else dict(self.capabilities),
        }

    def content_key(self) -> str:
        """Canonical JSON of the resource: equal keys, equal content."""
        return canonical_json(self._json_view())

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "resource") -> "ResourceState":
        """Build from JSON data, refusing anything the state schema would refuse."""
        if not isinstance(data, Mapping):
            raise StateError(f"{source} is not a JSON object")
        address = data.get("address") if isinstance(data.get("address"), str) else "?"
        document = {
            "format_version": FORMAT_VERSION,
            "tool_version": __version__,
            "lineage": _NIL_LINEAGE,
            "serial": 0,
            "resources": {address: dict(data)},
        }
        problems = _schema_problems(document, strip=2)
        if problems:
            raise _refuse(source, problems)
        return cls._unchecked(data)

    @classmethod
    def _unchecked(cls, data: Mapping[str, Any], *, owned: bool = False) -> "ResourceState":
        """From already validated data; ``owned``: freshly parsed JSON nobody else holds, so no copy is needed."""
        wrap = MappingProxyType if owned else _frozen
        capabilities = data.get("capabilities")
        return cls(
            address=data["address"],
            model_id=data["model_id"],
            configuration=wrap(data["configuration"]),
            version=data["version"],
            payload_hash=data["payload_hash"],
            applied_at=data["applied_at"],
            capabilities=None if capabilities is None else wrap(capabilities),
        )


@dataclass(frozen=True)
class State:
    """One environment's state: identity (lineage), order (serial) and resources by address."""

    lineage: str
    serial: int
    resources: Mapping[str, ResourceState]
    format_version: int = FORMAT_VERSION
    tool_version: str = __version__

    def __post_init__(self) -> None:
        object.__setattr__(self, "resources", MappingProxyType(dict(sorted(self.resources.items()))))

    @classmethod
    def empty(cls, lineage: str | None = None) -> "State":
        """A state never written: a fresh lineage, serial 0, nothing managed."""
        return cls(lineage=lineage or str(uuid.uuid4()), serial=0, resources={})

    def with_resource(self, resource: ResourceState) -> "State":
        return State(self.lineage, self.serial, {**self.resources, resource.address: resource}, self.format_version, self.tool_version)

    def without(self, address: str) -> "State":
        remaining = {key: value for key, value in self.resources.items() if key != address}
        return State(self.lineage, self.serial, remaining, self.format_version, self.tool_version)

    def same_content(self, other: "State") -> bool:
        """Equal lineage and resources: what decides whether the serial moves."""
        if self.lineage != other.lineage or self.resources.keys() != other.resources.keys():
            return False
        return all(resource.content_key() == other.resources[address].content_key() for address, resource in self.resources.items())

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._json_view())

    def _json_view(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "tool_version": self.tool_version,
            "lineage": self.lineage,
            "serial": self.serial,
            "resources": {address: resource._json_view() for address, resource in self.resources.items()},
        }

    def to_json(self) -> str:
        """The text of ``state.json``: one resource per line, so a diff shows which models changed.

        The first line holds the sha256 of every byte after it: a file we
        wrote (and validated) is recognised in one hash instead of a schema
        check per resource. Built from pieces because the indenting encoder
        of ``json`` is pure Python: 1.5 s for 10,000 resources against 0.1 s.
        """
        header = [f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}," for key, value in (
            ("format_version", self.format_version),
            ("lineage", self.lineage),
            ("serial", self.serial),
            ("tool_version", self.tool_version),
        )]
        resources = ",\n".join(
            f"  {json.dumps(address, ensure_ascii=False)}: {canonical_json(resource._json_view())}" for address, resource in self.resources.items()
        )
        body = "\n".join([*header, '"resources": {', *([resources] if resources else []), "}}"]) + "\n"
        return f'{{"checksum": "{sha256_hex(body)}",\n{body}'

    @staticmethod
    def written_by_us(data: bytes) -> bool:
        """True if ``data`` is a state.json exactly as :meth:`to_json` wrote it (no hand edit, no bit flip)."""
        first, _, rest = data.partition(b"\n")
        match = _CHECKSUM_LINE.match(first)
        return match is not None and match.group(1).decode() == sha256_hex(rest)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "state", trusted: bool = False) -> "State":
        """Build from JSON data: newer formats and schema violations refused with a clear StateError.

        ``trusted``: the data is a sealed document we wrote and validated
        ourselves (its checksum holds) and just parsed, so the schema check
        (~0.4 ms a resource, too much for a 10,000-model plan) and the
        defensive copies are skipped.
        """
        if not isinstance(data, Mapping):
            raise StateError(f"{source} is not a JSON object")
        version = data.get("format_version")
        if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
            raise StateError(
                f"{source} has format_version {version}, written by a newer llmplan "
                f"(version {data.get('tool_version', '?')}); this llmplan {__version__} reads format {FORMAT_VERSION}",
                hint="upgrade llmplan; the state was left untouched",
            )
        problems = [] if trusted else _schema_problems(data)
        if problems:
            raise _refuse(source, problems)
        for address, resource in data["resources"].items():
            if resource["address"] != address:
                raise StateError(f"{source}: resources.{address} says its address is {resource['address']!r}")
        return cls(
            lineage=data["lineage"],
            serial=data["serial"],
            resources={address: ResourceState._unchecked(resource, owned=trusted) for address, resource in data["resources"].items()},
            format_version=data["format_version"],
            tool_version=data["tool_version"],
        )


@dataclass(frozen=True)
class LockInfo:
    """Who holds an environment's state lock: shown on contention, needed by force-unlock."""

    id: str
    operation: str
    who: str
    pid: int
    created: str
    path: str

    def describe(self) -> str:
        return f"{self.operation} (id {self.id}, {self.who}, pid {self.pid}, since {self.created})"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "operation": self.operation, "who": self.who, "pid": self.pid, "created": self.created, "path": self.path}


class StateBackend(Protocol):
    """Where an environment's state lives. Apply uses only this.

    Contract:

    - ``read()`` returns the current state including every change recorded
      since the last commit, exactly as ``commit()`` would persist it (its
      serial already bumped if those changes alter the content), or ``None``
      if nothing was ever written.
    - ``record(resource)`` / ``forget(address)`` are durable when they return:
      a crash afterwards loses nothing; the next ``read()`` shows them.
    - ``commit()`` persists the recorded changes as the new state, bumping
      the serial only if the content changed, and returns it.
    - ``lock()`` fails at once with :class:`~planner.errors.LockHeld` naming
      the holder (or polls up to ``timeout`` seconds); a holder that dies
      must not leave the environment locked forever, or ``force_unlock``
      with the lock's id must be able to clear it.
    - ``warnings`` lists recoveries the caller should report (a torn journal line dropped, …).
    """

    warnings: list[str]

    def read(self) -> State | None: ...

    def record(self, resource: ResourceState) -> None: ...

    def forget(self, address: str) -> None: ...

    def commit(self) -> State: ...

    def lock(self, operation: str, *, timeout: float = 0.0) -> LockInfo: ...

    def unlock(self, lock: LockInfo) -> None: ...

    def lock_holder(self) -> LockInfo | None: ...

    def force_unlock(self, lock_id: str) -> None: ...


@dataclass(frozen=True)
class _Change:
    """One journal line: a resource recorded, or an address forgotten."""

    lineage: str
    address: str
    resource: ResourceState | None  # None = forget

    def to_line(self) -> str:
        if self.resource is None:
            return canonical_json(_seal({"lineage": self.lineage, "op": "forget", "address": self.address}))
        return canonical_json(_seal({"lineage": self.lineage, "op": "record", "resource": self.resource._json_view()}))

    @classmethod
    def from_line(cls, data: Any, *, source: str) -> "_Change":
        if not isinstance(data, Mapping) or not isinstance(data.get("lineage"), str):
            raise StateError(f"{source} is not a journal entry (no lineage)")
        if data.get("op") == "record":
            if _sealed_intact(data) and isinstance(data.get("resource"), dict):
                resource = ResourceState._unchecked(data["resource"], owned=True)  # validated by record() before it was written
            else:
                resource = ResourceState.from_dict(data.get("resource"), source=source)
            return cls(data["lineage"], resource.address, resource)
        if data.get("op") == "forget" and isinstance(data.get("address"), str):
            return cls(data["lineage"], data["address"], None)
        raise StateError(f"{source} is not a journal entry (op must be record or forget)")


def _touched_differ(before: Mapping[str, ResourceState], after: Mapping[str, ResourceState], touched: set[str]) -> bool:
    """Whether the journal changed anything: only the addresses it touched can differ (O(changes), not O(state))."""
    for address in touched:
        old, new = before.get(address), after.get(address)
        if (old is None) != (new is None):
            return True
        if old is not None and new is not None and old.content_key() != new.content_key():
            return True
    return False


def _process_alive(pid: int) -> bool:
    """Whether a process of this machine still runs (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _who() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns)


class LocalStateBackend:
    """State in files under ``state/<env>/``; see the module docstring for the layout.

    ``lineage``: the lineage this backend must find (for example the one a
    saved plan was made against); otherwise the first one it reads is
    adopted, and any other lineage met later is refused. ``clock`` and
    ``sleep`` drive the lock timeout (injectable for tests).

    Thread-safe: apply may record from worker threads. Writes assume the
    caller holds the state lock, as apply does; reads do not need it.
    """

    def __init__(
        self,
        directory: Path,
        *,
        environment: str | None = None,
        lineage: str | None = None,
        poll_interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.directory = Path(directory)
        self.environment = environment or self.directory.name
        self.warnings: list[str] = []
        self._lineage = lineage
        self._poll_interval = poll_interval
        self._clock = clock
        self._sleep = sleep
        self._mutex = threading.RLock()
        self._journal_checked = False
        self._lineage_checked = False
        self._held: dict[str, int] = {}
        self._held_mutex = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalStateBackend({str(self.directory)!r}, environment={self.environment!r})"

    @property
    def state_path(self) -> Path:
        return self.directory / STATE_FILE

    @property
    def backup_path(self) -> Path:
        return self.directory / BACKUP_FILE

    @property
    def journal_path(self) -> Path:
        return self.directory / JOURNAL_FILE

    @property
    def lock_path(self) -> Path:
        return self.directory / LOCK_FILE

    @property
    def lock_metadata_path(self) -> Path:
        return self.directory / LOCK_METADATA_FILE

    # --- reading ---------------------------------------------------------

    def read(self) -> State | None:
        with self._mutex:
            persisted, changes = self._load()
            return self._fold(persisted, changes)

    def _load(self) -> tuple[State | None, list[_Change]]:
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

    def _load_consistent(self, attempts: int = 20) -> tuple[State | None, list[_Change]]:
        """state.json and the journal as of one instant, even while another process commits.

        A commit renames a new state.json into place, then deletes the
        journal. A reader without the lock could pair the old state with a
        journal started after that commit; every rename makes a new inode,
        so a state.json that changed while we read is simply read again.
        """
        for _ in range(attempts):
            before = _identity(self.state_path)
            persisted = self._load_state_file()
            changes = self._load_journal()
            if _identity(self.state_path) == before:
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
            self._warn(f"{self.state_path} was edited by hand (its checksum does not match); checked against the state schema instead")
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

    def _load_journal(self) -> list[_Change]:
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
            _Change.from_line(data, source=f"{self.journal_path} line {number}")
            for number, data in enumerate(content.records, start=1)
        ]

    @staticmethod
    def _fold(persisted: State | None, changes: Sequence[_Change]) -> State | None:
        """Replay the journal over the persisted state; the same lines twice give the same state."""
        if persisted is None and not changes:
            return None
        if persisted is not None and not changes:
            return persisted
        base = persisted if persisted is not None else State.empty(changes[0].lineage)
        resources = dict(base.resources)
        for change in changes:
            if change.resource is None:
                resources.pop(change.address, None)
            else:
                resources[change.address] = change.resource
        if persisted is not None and not _touched_differ(persisted.resources, resources, {change.address for change in changes}):
            return persisted
        return State(base.lineage, base.serial + 1, resources)

    # --- writing ---------------------------------------------------------

    def record(self, resource: ResourceState) -> None:
        ResourceState.from_dict(resource._json_view(), source=f"resource {resource.address!r}")
        self._append(lambda lineage: _Change(lineage, resource.address, resource))

    def forget(self, address: str) -> None:
        self._append(lambda lineage: _Change(lineage, address, None))

    def _append(self, make: Callable[[str], _Change]) -> None:
        with self._mutex:
            lineage = self._current_lineage()
            if not self._journal_checked:
                self._clean_journal_tail()
            line = make(lineage).to_line()
            self._journal_checked = False  # until the append is known complete
            append_line_durably(self.journal_path, line)
            self._journal_checked = True

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

    def commit(self) -> State:
        with self._mutex:
            persisted, changes = self._load()
            state = self._fold(persisted, changes) or State.empty(self._current_lineage())
            if state is not persisted:  # _fold returns the persisted object itself when nothing changed
                atomic_write_text(self.state_path, state.to_json(), backup=True)
            # A crash here leaves the journal beside a state that already holds it: folding it again changes nothing.
            remove_durably(self.journal_path)
            self._journal_checked = True
            self._lineage = state.lineage
            return state

    # --- locking ---------------------------------------------------------

    def lock(self, operation: str, *, timeout: float = 0.0) -> LockInfo:
        self.directory.mkdir(parents=True, exist_ok=True)
        deadline = self._clock() + max(timeout, 0.0)
        while True:
            fd = self._try_flock()
            if fd is not None:
                break
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise self._lock_held()
            self._sleep(min(self._poll_interval, remaining))
        info = LockInfo(
            id=str(uuid.uuid4()),
            operation=operation,
            who=_who(),
            pid=os.getpid(),
            created=utc_now(),
            path=str(self.state_path),
        )
        try:
            # Stale metadata of a dead holder is simply replaced.
            atomic_write_text(self.lock_metadata_path, json.dumps(info.to_dict(), indent=2) + "\n")
        except BaseException:
            os.close(fd)
            raise
        with self._held_mutex:
            self._held[info.id] = fd
        return info

    def _try_flock(self) -> int | None:
        """An open descriptor holding the OS lock, or None if someone else holds it."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _lock_held(self) -> LockHeld:
        # The holder writes lock.json just after taking the OS lock: a loser
        # racing it may find no file, or the file of a dead earlier holder.
        # Give it a moment to describe itself before falling back to "someone".
        holder = self._read_lock_metadata()
        deadline = self._clock() + 1.0
        while (holder is None or not _process_alive(holder.pid)) and self._clock() < deadline:
            self._sleep(0.02)
            holder = self._read_lock_metadata()
        if holder is not None and not _process_alive(holder.pid):
            holder = None
        if holder is None:
            return LockHeld(
                f"state of environment {self.environment} is locked by another process "
                f"(its {LOCK_METADATA_FILE} is missing or being written)",
                hint="wait for it to finish and retry",
            )
        return LockHeld(
            f"state of environment {self.environment} is locked by {holder.describe()}",
            holder.to_dict(),
            hint=f"wait for it to finish (or pass --lock-timeout); if pid {holder.pid} is stuck, stop it: the OS releases the lock when it exits",
        )

    def _read_lock_metadata(self) -> LockInfo | None:
        try:
            data = json.loads(self.lock_metadata_path.read_text(encoding="utf-8"))
            return LockInfo(
                id=str(data["id"]),
                operation=str(data["operation"]),
                who=str(data["who"]),
                pid=int(data["pid"]),
                created=str(data["created"]),
                path=str(data.get("path", self.state_path)),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def unlock(self, lock: LockInfo) -> None:
        with self._held_mutex:
            fd = self._held.pop(lock.id, None)
        if fd is None:
            raise StateError(f"lock {lock.id} on environment {self.environment} is not held by this backend")
        try:
            current = self._read_lock_metadata()
            if current is not None and current.id == lock.id:
                # Before releasing: once released, the next holder's metadata must not be removed by us.
                remove_durably(self.lock_metadata_path)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)  # explicit: a forked child may share this descriptor
            os.close(fd)

    def lock_holder(self) -> LockInfo | None:
        """The live holder, or None. Probes the OS lock, which is the truth; lock.json only describes it."""
        if not self.lock_path.exists():
            return None
        fd = self._try_flock()
        if fd is None:
            return self._read_lock_metadata() or LockInfo(
                id="unknown", operation="unknown", who="unknown", pid=0, created="unknown", path=str(self.state_path)
            )
        os.close(fd)
        return None

    def force_unlock(self, lock_id: str) -> None:
        """Remove the metadata of a lock whose holder is gone; refused for a live holder or a wrong id."""
        current = self._read_lock_metadata()
        if current is None:
            raise StateError(f"state of environment {self.environment} has no lock to remove")
        if current.id != lock_id:
            raise StateError(
                f"lock id {lock_id} does not match the lock of environment {self.environment} "
                f"({current.describe()})",
                hint="copy the id from the error that named the holder",
            )
        fd = self._try_flock()
        if fd is None:
            raise StateError(
                f"lock {lock_id} of environment {self.environment} is held by a live process "
                f"(pid {current.pid}, {current.who}); refusing to force-unlock",
                hint="wait for it to finish, or stop that process: the OS releases its lock when it exits",
            )
        try:
            # Holding the OS lock ourselves, no new holder can write metadata while we remove the stale one.
            again = self._read_lock_metadata()
            if again is not None and again.id == lock_id:
                remove_durably(self.lock_metadata_path)
        finally:
            os.close(fd)

"""What llmplan remembers of an environment, as plain immutable data: state, resources, lock holders.

Pure: no files, no database. Every backend stores these and hands them back;
the state schema (``schemas/state.schema.json``) is the contract of their
JSON form.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import re
import uuid
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from planner import __version__
from planner.model import schemas
from planner.model.configuration import canonical_json, sha256_hex
from planner.model.errors import StateError

FORMAT_VERSION = 1
_CHECKSUM_LINE = re.compile(rb'^\{"checksum": "([0-9a-f]{64})",$')
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


def seal(document: dict[str, Any]) -> dict[str, Any]:
    """Add a checksum of the rest of the document: what we validated once need not be validated again."""
    return {**document, "checksum": sha256_hex(canonical_json(document))}


def sealed_intact(document: Mapping[str, Any]) -> bool:
    """True if ``document`` is exactly as written by :func:`seal` (no hand edit, no bit flip)."""
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
    source_commit: str | None = None  # the Git commit the applied plan was made from (None outside Git, after refresh or import)

    def __post_init__(self) -> None:
        if not isinstance(self.configuration, MappingProxyType):
            object.__setattr__(self, "configuration", _frozen(self.configuration))
        if self.capabilities is not None and not isinstance(self.capabilities, MappingProxyType):
            object.__setattr__(self, "capabilities", _frozen(self.capabilities))

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._json_view())

    def _json_view(self) -> dict[str, Any]:
        """A shallow JSON-ready view sharing our (read-only) data: for serializing, never for handing out."""
        view = {
            "address": self.address,
            "model_id": self.model_id,
            "configuration": dict(self.configuration),
            "version": self.version,
            "payload_hash": self.payload_hash,
            "applied_at": self.applied_at,
            "capabilities": None if self.capabilities is None else dict(self.capabilities),
        }
        if self.source_commit is not None:  # left out otherwise: a state written before it was recorded keeps its checksum
            view["source_commit"] = self.source_commit
        return view

    @functools.cached_property
    def content_key(self) -> str:
        """Canonical JSON of the resource: equal keys, equal content. Computed once:
        a commit writes it into state.json and into the state's content checksum."""
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
            source_commit=data.get("source_commit"),
        )


@dataclass(frozen=True)
class AuditHead:
    """The audit entry that vouches for a state: the ``state_commit`` entry written when it was committed.

    ``position`` is where the entry is in its trail (the byte offset of its
    line in ``audit.jsonl``, its row number in a database), so checking it
    reads one entry whatever the length of history. States written before
    positions were kept have none; the next commit adds it.
    """

    audit_id: str
    entry_hash: str
    position: int | None = None

    def to_dict(self) -> dict[str, Any]:
        head: dict[str, Any] = {"audit_id": self.audit_id, "entry_hash": self.entry_hash}
        if self.position is not None:
            head["position"] = self.position
        return head

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "AuditHead":
        position = data.get("position")
        return cls(str(data["audit_id"]), str(data["entry_hash"]), int(position) if isinstance(position, int) else None)


@dataclass(frozen=True)
class State:
    """One environment's state: identity (lineage), order (serial) and resources by address."""

    lineage: str
    serial: int
    resources: Mapping[str, ResourceState]
    format_version: int = FORMAT_VERSION
    tool_version: str = __version__
    audit_head: AuditHead | None = None
    environment: str | None = None  # whose state this is; None in states written before it was recorded

    def __post_init__(self) -> None:
        object.__setattr__(self, "resources", MappingProxyType(dict(sorted(self.resources.items()))))

    def vouched_by(self, head: AuditHead) -> "State":
        return dataclasses.replace(self, audit_head=head)

    def content_checksum(self) -> str:
        """sha256 of lineage, serial and resources: what a ``state_commit`` audit entry records of the state."""
        # canonical_json of {"lineage", "resources", "serial"}, built from each resource's cached canonical text
        resources = ",".join(f"{json.dumps(address, ensure_ascii=False)}:{resource.content_key}" for address, resource in self.resources.items())
        return sha256_hex(f'{{"lineage":{json.dumps(self.lineage)},"resources":{{{resources}}},"serial":{json.dumps(self.serial)}}}')

    @classmethod
    def empty(cls, lineage: str | None = None, *, environment: str | None = None) -> "State":
        """A state never written: a fresh lineage, serial 0, nothing managed."""
        return cls(lineage=lineage or str(uuid.uuid4()), serial=0, resources={}, environment=environment)

    def with_resource(self, resource: ResourceState) -> "State":
        return dataclasses.replace(self, resources={**self.resources, resource.address: resource})

    def same_content(self, other: "State") -> bool:
        """Equal lineage and resources: what decides whether the serial moves."""
        if self.lineage != other.lineage or self.resources.keys() != other.resources.keys():
            return False
        return all(resource.content_key == other.resources[address].content_key for address, resource in self.resources.items())

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._json_view())

    def _json_view(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "format_version": self.format_version,
            "tool_version": self.tool_version,
            "lineage": self.lineage,
            "serial": self.serial,
            "resources": {address: resource._json_view() for address, resource in self.resources.items()},
        }
        if self.audit_head is not None:
            view["audit_head"] = self.audit_head.to_dict()
        if self.environment is not None:
            view["environment"] = self.environment
        return view

    def to_json(self) -> str:
        """The text of ``state.json``: one resource per line, so a diff shows which models changed.

        The first line holds the sha256 of every byte after it: a file we
        wrote (and validated) is recognised in one hash instead of a schema
        check per resource. Built from pieces because the indenting encoder
        of ``json`` is pure Python: 1.5 s for 10,000 resources against 0.1 s.
        """
        fields: list[tuple[str, Any]] = [("format_version", self.format_version), ("lineage", self.lineage), ("serial", self.serial), ("tool_version", self.tool_version)]
        if self.environment is not None:
            fields.insert(0, ("environment", self.environment))
        if self.audit_head is not None:
            fields.insert(0, ("audit_head", self.audit_head.to_dict()))
        header = [f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False, sort_keys=True)}," for key, value in fields]
        resources = ",\n".join(
            f"  {json.dumps(address, ensure_ascii=False)}: {resource.content_key}" for address, resource in self.resources.items()
        )
        body = "\n".join([*header, '"resources": {', *([resources] if resources else []), "}}"]) + "\n"
        return f'{{"checksum": "{sha256_hex(body)}",\n{body}'

    def checksum(self) -> str:
        """The checksum :meth:`to_json` writes on its first line: the same on every backend."""
        return self.to_json()[len('{"checksum": "') :][:64]

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
            audit_head=AuditHead.from_dict(data["audit_head"]) if data.get("audit_head") else None,
            environment=data.get("environment"),
        )


@dataclass(frozen=True)
class LockInfo:
    """Who holds an environment's lock: shown on contention, needed by force-unlock.

    Nothing here assumes the holder runs on this machine: ``host`` says where
    it runs and ``ci_run`` which CI job it is, so a team sharing one backend
    can find the holder; ``where`` names the lock itself (a file, a database).
    """

    id: str
    operation: str
    who: str
    pid: int
    created: str
    where: str
    host: str = ""
    ci_run: str | None = None
    fence: int | None = None  # the fencing token of this holding (see planner.adapters.records.interfaces.Lease)

    def describe(self) -> str:
        ci = f", CI run {self.ci_run}" if self.ci_run else ""
        return f"{self.operation} (id {self.id}, {self.who}, pid {self.pid}{ci}, since {self.created})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation": self.operation,
            "who": self.who,
            "host": self.host,
            "pid": self.pid,
            "ci_run": self.ci_run,
            "created": self.created,
            "where": self.where,
            "fence": self.fence,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str) -> "LockInfo":
        """From a stored description; raises KeyError/TypeError/ValueError if it is not one."""
        who = str(data["who"])
        return cls(
            id=str(data["id"]),
            operation=str(data["operation"]),
            who=who,
            pid=int(data["pid"]),
            created=str(data["created"]),
            where=str(data.get("where") or data.get("path") or where),
            host=str(data.get("host") or who.rpartition("@")[2]),
            ci_run=str(data["ci_run"]) if data.get("ci_run") else None,
            fence=int(data["fence"]) if isinstance(data.get("fence"), int) else None,
        )

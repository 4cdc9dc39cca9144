"""The plan: what apply will do, as plain data.

``build_plan`` is a pure function of the desired environment, the live
configurations and the last recorded state.  A plan knows nothing about how
it will be shown; renderers read it, apply executes its changes.  Saved to a
file it is a JSON document in Terraform's JSON output format
(``terraform show -json``: ``planned_values``, ``resource_changes[]``,
``prior_state``, ``configuration`` …, see ``planner.tfjson``) so policy tools
can judge it, plus an ``llmplan`` block with what apply needs to refuse a
stale plan, sealed by a checksum.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from planner.configuration import canonical_json, sha256_hex
from planner.diff import FieldChange, configuration_hash, diff_configurations, diff_payloads, same_payload, to_payload
from planner.environment import Environment
from planner.errors import PlanFileError, SafetyThresholdExceeded, StalePlan
from planner.safety import UNCHANGED, Classification, classify, classify_action, saved_classification, weakening_changes
from planner.tfjson import FORMAT_VERSION, TERRAFORM_VERSION, ConfiguredModel, RecordedModel, change_entry, configuration, plain_json, planned_values_mismatch
from planner.tfjson import document_text, prior_state, read_configuration, read_prior_state, recorded_models, values_module, values_resource

if TYPE_CHECKING:  # the records model is only needed for its types
    from planner.records.model import State

NO_OP = "no-op"
CREATE = "create"
UPDATE = "update"
FORGET = "forget"
WRITE_ACTIONS = (CREATE, UPDATE)  # the actions that send a PUT


@dataclass(frozen=True)
class ResourceChange:
    """What happens to one model address.

    ``before`` is the live configuration (``None`` if never configured),
    ``after`` the body apply will PUT (``None`` for forget), ``live_version``
    the version the change was computed against: apply sends it, and the
    gateway refuses the PUT if the model changed since.  ``classification``
    says what the change means for the model's safety.
    """

    address: str
    model_id: str
    action: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    changes: tuple[FieldChange, ...] = ()
    live_version: int | None = None
    file: str | None = None
    classification: Classification = UNCHANGED


@dataclass(frozen=True)
class DriftedResource:
    """A model whose live configuration differs from what llmplan last applied."""

    address: str
    model_id: str
    before: Mapping[str, Any] | None  # as last applied (state)
    after: Mapping[str, Any] | None  # as live now
    changes: tuple[FieldChange, ...]
    state_version: int | None
    live_version: int | None
    applied_at: str | None
    classification: Classification = UNCHANGED  # of the change made outside llmplan


@dataclass(frozen=True)
class SafetyCheck:
    """The share of models a plan changes, against the environment's limit."""

    max_change_percent: float
    changed: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.changed / self.total if self.total else 0.0

    @property
    def exceeded(self) -> bool:
        return self.changed > 0 and self.percent > self.max_change_percent

    def describe(self) -> str:
        return (
            f"{self.changed} of {self.total} models would change ({self.percent:.0f} %), "
            f"over the {self.max_change_percent:g} % limit of this environment; "
            "review the plan and re-run with --force"
        )


@dataclass(frozen=True)
class Plan:
    environment: str
    created_at: str
    tool_version: str
    state_lineage: str | None
    state_serial: int
    changes: tuple[ResourceChange, ...]
    drift: tuple[DriftedResource, ...]
    safety: SafetyCheck
    targets: tuple[str, ...] = ()
    configuration: tuple[ConfiguredModel, ...] = ()  # every model file of the environment, targeted or not
    prior_state: tuple[RecordedModel, ...] = ()  # the state the plan was made against
    checksum: str | None = field(default=None, compare=False)

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)

    @property
    def actionable(self) -> tuple[ResourceChange, ...]:
        """The changes apply performs (everything but no-op), in address order."""
        return tuple(change for change in self.changes if change.action != NO_OP)

    @property
    def has_changes(self) -> bool:
        return bool(self.actionable)

    @property
    def weakening(self) -> tuple[ResourceChange, ...]:
        """The changes that weaken a model's safety, in address order."""
        return weakening_changes(self.changes)

    def raise_if_unsafe(self, *, force: bool) -> None:
        """The change limit (octoDNS's safety threshold): more than that share of models needs --force."""
        if self.safety.exceeded and not force:
            raise SafetyThresholdExceeded(self.safety.describe())

    def raise_if_stale(self, state: "State | None", live: Mapping[str, Mapping[str, Any] | None]) -> None:
        """Refuse a saved plan if the state or any live configuration moved since it was made."""
        lineage = state.lineage if state is not None else None
        serial = state.serial if state is not None else 0
        if self.state_lineage is not None and lineage != self.state_lineage:
            raise StalePlan(f"the plan was made against state lineage {self.state_lineage}, but the state of environment {self.environment} has lineage {lineage}")
        if serial != self.state_serial:
            raise StalePlan(f"the state of environment {self.environment} moved since the plan was made (serial {self.state_serial} → {serial}): another apply ran")
        moved = []
        for change in self.changes:
            if change.action == FORGET:
                continue
            configuration = live.get(change.model_id)
            version = configuration.get("version") if configuration is not None else None
            if version != change.live_version:
                moved.append(f"{change.address} (planned against version {change.live_version}, live is {version})")
        if moved:
            raise StalePlan("live configuration changed since the plan was made: " + ", ".join(moved))


# --- building ---------------------------------------------------------------


def build_plan(
    environment: Environment,
    live: Mapping[str, Mapping[str, Any] | None],
    state: "State | None",
    *,
    created_at: str,
    tool_version: str,
    targets: Sequence[str] = (),
) -> Plan:
    """Compare desired (YAML), live (gateway) and last applied (state).

    ``live`` maps lower-case model ids to the live configuration as the
    gateway returned it (with ``version``), or None if never configured.
    ``targets`` limits the plan to those addresses.
    """
    wanted = set(targets)
    rules = environment.safety
    recorded = dict(state.resources) if state is not None else {}
    changes: list[ResourceChange] = []
    drift: list[DriftedResource] = []
    configured: list[ConfiguredModel] = []

    for model in environment.models:
        after = to_payload(model.config)
        configured.append(ConfiguredModel(model.address, model.file, after))
        if wanted and model.address not in wanted:
            continue
        model_id = model.model_id.lower()
        live_config = live.get(model_id)
        live_version = live_config.get("version") if live_config is not None else None
        if live_config is None:
            action = CREATE
            field_changes = diff_payloads(None, after)
            before = None
        else:
            before = to_payload(live_config)
            same = same_payload(before, after)
            action = NO_OP if same else UPDATE
            field_changes = () if same else diff_payloads(before, after)
        classification = classify_action(action, field_changes, rules)
        changes.append(ResourceChange(model.address, model_id, action, before, after, field_changes, live_version, model.file, classification))

        previous = recorded.get(model.address)
        if previous is not None and previous.model_id.lower() == model_id:
            drifted = _drift(model.address, model_id, previous, live_config, rules)
            if drifted is not None:
                drift.append(drifted)

    desired_addresses = {model.address for model in environment.models}
    for address, previous in sorted(recorded.items()):
        if address in desired_addresses or (wanted and address not in wanted):
            continue
        changes.append(ResourceChange(address, previous.model_id.lower(), FORGET, dict(previous.configuration), None, (), previous.version, None, classify_action(FORGET, (), rules)))

    changes.sort(key=lambda change: change.address)
    written = sum(1 for change in changes if change.action in WRITE_ACTIONS)
    return Plan(
        environment=environment.name,
        created_at=created_at,
        tool_version=tool_version,
        state_lineage=state.lineage if state is not None else None,
        state_serial=state.serial if state is not None else 0,
        changes=tuple(changes),
        drift=tuple(sorted(drift, key=lambda item: item.address)),
        safety=SafetyCheck(environment.apply.max_change_percent, written, len(environment.models)),
        targets=tuple(sorted(wanted)),
        configuration=tuple(sorted(configured, key=lambda model: model.address)),
        prior_state=recorded_models(recorded),
    )


def _drift(address: str, model_id: str, previous: Any, live_config: Mapping[str, Any] | None, rules: Any) -> DriftedResource | None:
    recorded = to_payload(previous.configuration)
    now = to_payload(live_config) if live_config is not None else None
    if now is not None and configuration_hash(recorded) == configuration_hash(now):
        return None
    changes = diff_configurations(recorded, now)
    return DriftedResource(
        address=address,
        model_id=model_id,
        before=recorded,
        after=now,
        changes=changes,
        state_version=previous.version,
        live_version=live_config.get("version") if live_config is not None else None,
        applied_at=previous.applied_at,
        classification=classify(changes, rules) if now is not None else UNCHANGED,
    )


def unknown_targets(environment: Environment, state: "State | None", targets: Iterable[str]) -> list[str]:
    known = {model.address for model in environment.models}
    if state is not None:
        known.update(state.resources)
    return sorted(set(targets) - known)


# --- the saved form ---------------------------------------------------------


def field_changes_json(changes: Iterable[FieldChange]) -> list[dict[str, Any]]:
    return [change.to_dict() for change in changes]


def to_document(plan: Plan) -> dict[str, Any]:
    """The plan in Terraform's JSON output format, with llmplan's block.

    Sections share the bodies they repeat: treat the document as read-only.
    """
    converted: dict[int, Any] = {}

    def plain(value: Mapping[str, Any] | None) -> Any:
        """A body as JSON, converted once: the same body is a change's after,
        a planned value and a configuration."""
        if value is None:
            return None
        if id(value) not in converted:
            converted[id(value)] = plain_json(value)
        return converted[id(value)]

    resource_changes = []
    planned = []
    for change in plan.changes:
        after = plain(change.after)
        entry = change_entry(change.address, [change.action], plain(change.before), after)
        entry.update(model_id=change.model_id, live_version=change.live_version, file=change.file, field_changes=field_changes_json(change.changes), llmplan={"safety": change.classification.to_dict()})
        resource_changes.append(entry)
        if after is not None:
            planned.append(values_resource(change.address, after))
    resource_drift = []
    for item in plan.drift:
        entry = change_entry(item.address, [UPDATE if item.after is not None else "delete"], plain(item.before), plain(item.after))
        entry.update(
            model_id=item.model_id,
            state_version=item.state_version,
            live_version=item.live_version,
            applied_at=item.applied_at,
            field_changes=field_changes_json(item.changes),
            llmplan={"safety": item.classification.to_dict()},
        )
        resource_drift.append(entry)
    document: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "terraform_version": TERRAFORM_VERSION,
        "llmplan_version": plan.tool_version,
        "planned_values": values_module(planned),
        "resource_drift": resource_drift,
        "resource_changes": resource_changes,
        "prior_state": prior_state(plan.prior_state),
        "configuration": configuration(plan.configuration, plain),
        "timestamp": plan.created_at,
        "applyable": plan.has_changes,
        "complete": True,
        "errored": False,
        "llmplan": {
            "environment": plan.environment,
            "state": {"lineage": plan.state_lineage, "serial": plan.state_serial},
            "targets": list(plan.targets),
            "summary": {
                "create": plan.count(CREATE),
                "update": plan.count(UPDATE),
                "forget": plan.count(FORGET),
                "no_op": plan.count(NO_OP),
                "drifted": len(plan.drift),
            },
            "safety": {
                "max_change_percent": plan.safety.max_change_percent,
                "changed": plan.safety.changed,
                "total": plan.safety.total,
                "change_percent": round(plan.safety.percent, 2),
                "exceeded": plan.safety.exceeded,
            },
        },
    }
    if document["prior_state"] is None:  # Terraform leaves it out when there is no state
        del document["prior_state"]
    document["llmplan"]["checksum"] = document_checksum(document)
    return document


def document_checksum(document: Mapping[str, Any]) -> str:
    """sha256 over the canonical JSON of the document without its checksum."""
    sealed = dict(document)
    block = dict(sealed.get("llmplan") or {})
    block.pop("checksum", None)
    sealed["llmplan"] = block
    return "sha256:" + sha256_hex(canonical_json(sealed))


def from_document(document: Mapping[str, Any], *, source: str = "plan file") -> Plan:
    """A plan from its saved form; refuses anything hand-edited or foreign."""
    from planner import schemas
    from planner.validation import schema_violations

    if not isinstance(document, Mapping):
        raise PlanFileError(f"{source} is not a llmplan plan (expected a JSON object)")
    version = str(document.get("format_version", ""))
    if version.split(".")[0] != FORMAT_VERSION.split(".")[0]:
        raise PlanFileError(f"{source} has format_version {version!r}; this llmplan reads {FORMAT_VERSION}", hint="create the plan again with this version of llmplan")
    violations = schema_violations(schemas.validator(schemas.PLAN), document)
    if violations:
        listing = "; ".join(f"{v.field or '(root)'}: {v.message}" for v in violations[:5])
        raise PlanFileError(f"{source} is not a valid llmplan plan: {listing}")
    block = document["llmplan"]
    if block.get("checksum") != document_checksum(document):
        raise PlanFileError(f"{source} was modified after it was written (checksum mismatch)", hint="create and review a new plan; a plan file must be applied exactly as reviewed")
    disagree = planned_values_mismatch(document)
    if disagree:
        raise PlanFileError(
            f"{source} is not a valid llmplan plan: planned_values and resource_changes disagree on {', '.join(disagree[:5])}",
            hint="policy tools judge planned_values and apply sends resource_changes; create and review a new plan",
        )
    changes = tuple(
        ResourceChange(
            address=entry["address"],
            model_id=entry["model_id"],
            action=entry["change"]["actions"][0],
            before=entry["change"]["before"],
            after=entry["change"]["after"],
            changes=tuple(FieldChange.from_dict(item) for item in entry["field_changes"]),
            live_version=entry.get("live_version"),
            file=entry.get("file"),
            classification=_classification(entry),
        )
        for entry in document["resource_changes"]
    )
    drift = tuple(
        DriftedResource(
            address=entry["address"],
            model_id=entry["model_id"],
            before=entry["change"]["before"],
            after=entry["change"]["after"],
            changes=tuple(FieldChange.from_dict(item) for item in entry["field_changes"]),
            state_version=entry.get("state_version"),
            live_version=entry.get("live_version"),
            applied_at=entry.get("applied_at"),
            classification=_classification(entry),
        )
        for entry in document["resource_drift"]
    )
    safety = block["safety"]
    return Plan(
        environment=block["environment"],
        created_at=document["timestamp"],
        tool_version=document["llmplan_version"],
        state_lineage=block["state"]["lineage"],
        state_serial=block["state"]["serial"],
        changes=changes,
        drift=drift,
        safety=SafetyCheck(safety["max_change_percent"], safety["changed"], safety["total"]),
        targets=tuple(block["targets"]),
        configuration=read_configuration(document),
        prior_state=read_prior_state(document),
        checksum=block["checksum"],
    )


def _classification(entry: Mapping[str, Any]) -> Classification:
    changes = tuple(FieldChange.from_dict(item) for item in entry["field_changes"])
    return saved_classification((entry.get("llmplan") or {}).get("safety"), entry["change"]["actions"][0], changes)


def dumps(plan: Plan) -> str:
    """The saved form as text: one line, stable key order, as ``terraform show -json`` writes it."""
    return document_text(to_document(plan))


def loads(text: str, *, source: str = "plan file") -> Plan:
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{source} is not valid JSON (truncated or not a plan?): {exc.msg} at line {exc.lineno}") from exc
    except (ValueError, RecursionError) as exc:  # NaN/Infinity, or nesting no plan has
        raise PlanFileError(f"{source} is not a llmplan plan: {exc}") from exc
    return from_document(document, source=source)


def _reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON; a plan never holds them."""
    raise ValueError(f"it holds {name}, which is not a JSON number")

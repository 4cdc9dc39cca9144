"""A plan's saved form: Terraform's JSON output format plus an ``llmplan`` block, sealed by a checksum.

Saved to a file, a plan is ``terraform show -json``'s document
(``planned_values``, ``resource_changes[]``, ``prior_state``,
``configuration`` …, see :mod:`planner.core.tfjson`) so policy tools can
judge it, plus what apply needs to refuse a stale plan. Anything
hand-edited, truncated or foreign is refused when read.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from planner.core.safety import saved_classification
from planner.core.tfjson import FORMAT_VERSION, TERRAFORM_VERSION, change_entry, configuration, document_text, plain_json, planned_values_mismatch, prior_state, read_configuration, read_prior_state, values_module, values_resource
from planner.core.validation import schema_violations
from planner.model import schemas
from planner.model.configuration import canonical_json, sha256_hex
from planner.model.errors import PlanFileError
from planner.model.plan import CREATE, FORGET, NO_OP, UPDATE, DriftedResource, FieldChange, Plan, ResourceChange, SafetyCheck
from planner.model.safety import Classification


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
        if change.previous_address is not None:
            entry["previous_address"] = change.previous_address  # as Terraform's JSON names a move
        if change.state_version is not None:
            entry["state_version"] = change.state_version
        entry.update(
            model_id=change.model_id,
            live_version=change.live_version,
            file=change.file,
            field_changes=field_changes_json(change.changes),
            llmplan={"safety": change.classification.to_dict()},
        )
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
            "state": {"lineage": plan.state_lineage, "serial": plan.state_serial, **({"audit_position": plan.state_audit_position} if plan.state_audit_position is not None else {})},
            "targets": list(plan.targets),
            "summary": {
                "create": plan.count(CREATE),
                "update": plan.count(UPDATE),
                "forget": plan.count(FORGET),
                "move": len(plan.moves),
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
    if plan.source_commit is not None:
        document["llmplan"]["source"] = {"commit": plan.source_commit}
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
            previous_address=entry.get("previous_address"),
            state_version=entry.get("state_version"),
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
        state_audit_position=block["state"].get("audit_position"),
        changes=changes,
        drift=drift,
        safety=SafetyCheck(safety["max_change_percent"], safety["changed"], safety["total"]),
        targets=tuple(block["targets"]),
        configuration=read_configuration(document),
        prior_state=read_prior_state(document),
        checksum=block["checksum"],
        source_commit=(block.get("source") or {}).get("commit"),
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

"""Terraform's JSON output format (``terraform show -json``, format 1.2).

Policy tools (checkov, OPA/conftest, terraform-compliance) read a Terraform
plan through its sections, not through llmplan's changes.  This module maps
llmplan's plans and drift reports onto them, as pure functions over plain
data:

* ``planned_values.root_module.resources[]``: each model as it will be
  configured once the plan is applied (Terraform's values representation);
* ``prior_state``: llmplan's state (Terraform's state representation);
* ``configuration``: the desired model files (the configuration
  representation, every field a constant expression);
* the entries of ``resource_changes[]`` and ``resource_drift[]``.

Every model is a ``managed`` resource of type ``llm_model_configuration``
whose ``name`` and ``address`` are llmplan's address (the file name), so
each section names a model the same way.  The provider address is a name
for tools that group by provider: no such provider is published.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Mapping, Sequence

from planner.model.configuration import canonical_json
from planner.model.plan import ConfiguredModel, RecordedModel

FORMAT_VERSION = "1.2"
# checkov and terraform-compliance only read a plan that names a Terraform
# release: this is one that writes format 1.2.  llmplan's own version is in
# ``llmplan_version``; no Terraform is involved.
TERRAFORM_VERSION = "1.5.0"
STATE_FORMAT_VERSION = "1.0"  # of the state representation inside prior_state, as Terraform writes it
RESOURCE_TYPE = "llm_model_configuration"
PROVIDER_KEY = "llm"  # Terraform's implied provider: the resource type's first word
PROVIDER_NAME = "registry.terraform.io/llmplan/llm"
MODE = "managed"


def recorded_models(resources: Mapping[str, Any]) -> tuple[RecordedModel, ...]:
    """The prior state: state resources (address → ResourceState) in address order."""
    return tuple(RecordedModel(address, item.configuration, item.version, item.applied_at) for address, item in sorted(resources.items()))


def plain_json(value: Mapping[str, Any] | None) -> Any:
    """A body as JSON data, keys sorted (a state record's frozen mapping becomes a dict)."""
    if value is None:
        return None
    return json.loads(canonical_json(value if type(value) is dict else dict(value)))


# --- writing ----------------------------------------------------------------


def _head(address: str) -> dict[str, Any]:
    return {"address": address, "mode": MODE, "type": RESOURCE_TYPE, "name": address, "provider_name": PROVIDER_NAME}


def change_entry(address: str, actions: list[str], before: Any, after: Any) -> dict[str, Any]:
    """An entry of ``resource_changes[]`` or ``resource_drift[]``.

    Every value is known before apply and none is sensitive: ``after_unknown``
    is empty and the sensitivity masks are ``{}`` (or ``false`` for an
    absent side), as Terraform writes them.
    """
    entry = _head(address)
    entry["change"] = {
        "actions": actions,
        "before": before,
        "after": after,
        "after_unknown": {},
        "before_sensitive": {} if before is not None else False,
        "after_sensitive": {} if after is not None else False,
    }
    return entry


def values_resource(address: str, values: Any) -> dict[str, Any]:
    """A resource of the values representation (planned_values, prior_state)."""
    entry = _head(address)
    entry.update(schema_version=0, values=values, sensitive_values={})
    return entry


def values_module(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"root_module": {"resources": resources}}


def prior_state(recorded: Sequence[RecordedModel]) -> dict[str, Any] | None:
    """The state representation of llmplan's state; None (section left out,
    as Terraform does) when nothing is recorded yet."""
    if not recorded:
        return None
    resources = []
    for model in recorded:
        entry = values_resource(model.address, plain_json(model.values))
        entry.update(version=model.version, applied_at=model.applied_at)
        resources.append(entry)
    return {"format_version": STATE_FORMAT_VERSION, "terraform_version": TERRAFORM_VERSION, "values": values_module(resources)}


def configuration(models: Iterable[ConfiguredModel], plain: Callable[[Any], Any] = plain_json) -> dict[str, Any]:
    """The configuration representation of the model files, each field a
    constant expression; ``plain`` converts a body to JSON data."""
    resources = []
    for model in models:
        resources.append(
            {
                "address": model.address,
                "mode": MODE,
                "type": RESOURCE_TYPE,
                "name": model.address,
                "provider_config_key": PROVIDER_KEY,
                "expressions": {key: {"constant_value": value} for key, value in plain(model.values).items()},
                "schema_version": 0,
                "file": model.file,
            }
        )
    return {"provider_config": {PROVIDER_KEY: {"name": PROVIDER_KEY, "full_name": PROVIDER_NAME}}, "root_module": {"resources": resources}}


def document_text(document: Mapping[str, Any]) -> str:
    """A plan or drift document as ``terraform show -json`` writes it: one
    compact line.  terraform-compliance reads only that form (it parses a
    plan file's first line), and json's C encoder writes it (``indent=2``
    takes the pure-Python one, 5 times slower on 10,000 models)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"


# --- reading ----------------------------------------------------------------


def read_configuration(document: Mapping[str, Any]) -> tuple[ConfiguredModel, ...]:
    section = document.get("configuration")
    if section is None:  # a plan of format 1.0
        return ()
    return tuple(
        ConfiguredModel(entry["address"], entry.get("file"), {key: expression["constant_value"] for key, expression in entry["expressions"].items()})
        for entry in section["root_module"]["resources"]
    )


def read_prior_state(document: Mapping[str, Any]) -> tuple[RecordedModel, ...]:
    section = document.get("prior_state")
    if section is None:
        return ()
    return tuple(
        RecordedModel(entry["address"], entry["values"], entry.get("version"), entry.get("applied_at"))
        for entry in section["values"]["root_module"]["resources"]
    )


def planned_values_mismatch(document: Mapping[str, Any]) -> list[str]:
    """Addresses where ``planned_values`` and ``resource_changes`` disagree.

    Policy tools judge ``planned_values``; apply executes ``resource_changes``.
    A plan whose two sections differ would let a gate pass what apply does
    not send, so it is refused however its checksum reads.
    """
    section = document.get("planned_values")
    if section is None:  # a plan of format 1.0: nothing for a policy tool to misread
        return []
    planned: dict[str, Any] = {}
    repeated = []
    for entry in section["root_module"]["resources"]:
        if entry["address"] in planned:
            repeated.append(entry["address"])
        planned[entry["address"]] = entry.get("values")
    applied = {entry["address"]: entry["change"]["after"] for entry in document["resource_changes"] if entry["change"]["after"] is not None}
    differing = {address for address in planned.keys() | applied.keys() if planned.get(address) != applied.get(address)}
    return sorted(differing.union(repeated))

"""Building a typed environment from the files read: defaults merged under each model.

Pure: :mod:`planner.adapters.project` reads the files into an
:class:`~planner.model.settings.EnvironmentSource` (plain data that remembers
its file and line), :func:`merge_defaults` merges the environment's
``defaults`` under each model, :mod:`planner.core.validation` decides whether
the data is acceptable, and :func:`build_environment` turns accepted data
into typed objects.
"""

from __future__ import annotations

from typing import Any, Mapping

from planner.model.safety import DEFAULT_WEAKENING_POLICY, rules_for
from planner.model.settings import (
    DEFAULT_DELIVER_AFTER_APPLY,
    DEFAULT_DSN_ENV,
    DEFAULT_MAX_CHANGE_PERCENT,
    DEFAULT_PARALLELISM,
    DEFAULT_PG_SCHEMA,
    DEFAULT_RECORDS_TIMEOUT,
    DEFAULT_WEBHOOK_TIMEOUT,
    NOT_INHERITED,
    ApplySettings,
    Environment,
    EnvironmentSource,
    GatewaySettings,
    GovernanceSettings,
    ModelFile,
    Origin,
    StateSettings,
)
from planner.model.source import JsonPath, SourceDocument


def merge_defaults(address: str, document: SourceDocument, defaults_doc: SourceDocument | None) -> ModelFile:
    """Merge ``defaults`` under a model: mappings key by key, lists and values replaced."""
    if defaults_doc is None:
        return ModelFile(address, document.file, document.data, document.lines, written=document.written)
    inherited: dict[JsonPath, Origin] = {}
    for path, line in defaults_doc.lines.items():
        if path[:1] == ("defaults",) and len(path) > 1 and path[1] not in NOT_INHERITED:
            inherited[path[1:]] = Origin(defaults_doc.file, line)
    config = {key: _copy(value) for key, value in defaults_doc.data["defaults"].items() if key not in NOT_INHERITED}
    _merge_into(config, document.data, (), inherited)
    return ModelFile(address, document.file, config, document.lines, inherited, document.written)


def _merge_into(base: dict[str, Any], overlay: dict[str, Any], path: JsonPath, inherited: dict[JsonPath, Origin]) -> None:
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge_into(base[key], value, path + (key,), inherited)
        else:
            # a replaced value must not keep the defaults' origins of its children
            prefix = path + (key,)
            for stale in [p for p in inherited if p[: len(prefix)] == prefix]:
                del inherited[stale]
            base[key] = value  # the parsed document is ours: no copy needed


def _copy(value: Any) -> Any:
    """A copy of plain YAML data (deepcopy's generality costs 5x more)."""
    if type(value) is dict:
        return {key: _copy(item) for key, item in value.items()}
    if type(value) is list:
        return [_copy(item) for item in value]
    return value


def build_environment(source: EnvironmentSource) -> Environment:
    """Typed environment from a source that validation accepted."""
    assert source.settings is not None, "build_environment needs validated input"
    data = source.settings.data
    gateway = data.get("gateway", {})
    governance = data.get("governance")
    apply = data.get("apply", {})
    models = tuple(sorted(source.models, key=lambda m: m.address))
    return Environment(
        name=source.name,
        root=source.root,
        directory=source.directory,
        gateway=GatewaySettings(
            region=gateway.get("region"),
            base_url=gateway.get("base_url"),
            login_url=gateway.get("login_url"),
            sandbox=bool(gateway.get("sandbox", False)),
            timeout_seconds=float(gateway["timeout_seconds"]) if "timeout_seconds" in gateway else None,
        ),
        governance=GovernanceSettings(
            webhook_url=governance["webhook_url"],
            secret_env=governance.get("secret_env"),
            timeout_seconds=float(governance.get("timeout_seconds", DEFAULT_WEBHOOK_TIMEOUT)),
            deliver_after_apply_seconds=float(governance.get("deliver_after_apply_seconds", DEFAULT_DELIVER_AFTER_APPLY)),
        )
        if governance
        else None,
        apply=ApplySettings(
            parallelism=int(apply.get("parallelism", DEFAULT_PARALLELISM)),
            max_change_percent=float(apply.get("max_change_percent", DEFAULT_MAX_CHANGE_PERCENT)),
            weakening=str(apply.get("weakening", DEFAULT_WEAKENING_POLICY)),
        ),
        policy=data.get("policy"),
        models=models,
        safety=rules_for(data.get("safety")),
        state=state_settings(data.get("state")),
        warnings=source.warnings,
    )


def state_settings(block: Any) -> StateSettings:
    """The ``state:`` block, defaults filled in (validated by the environment schema)."""
    block = block if isinstance(block, Mapping) else {}
    return StateSettings(
        backend=str(block.get("backend", "local")),
        dsn_env=str(block.get("dsn_env", DEFAULT_DSN_ENV)),
        schema=str(block.get("schema", DEFAULT_PG_SCHEMA)),
        timeout_seconds=float(block.get("timeout_seconds", DEFAULT_RECORDS_TIMEOUT)),
    )

"""The desired configuration of an environment, as data: models, settings, origins.

Pure: ``planner.loader`` reads the files into an :class:`EnvironmentSource`
(plain data that remembers its file and line), :func:`merge_defaults` merges
the environment's ``defaults`` under each model, ``planner.validation``
decides whether the data is acceptable, and :func:`build_environment` turns
accepted data into typed objects. Nothing here touches files or the network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from planner.errors import Problem
from planner.safety import DEFAULT_WEAKENING_POLICY, SafetyRules, default_rules, rules_for
from planner.yamlsource import JsonPath, SourceDocument

ENVIRONMENTS_DIR = "environments"
ENVIRONMENT_FILE = "environment.yaml"
MODELS_DIR = "models"
ADDRESS_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
ENVIRONMENT_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
MODEL_SUFFIXES = (".yaml", ".yml")
# A model's identity is never inherited: a ``model_id`` in ``defaults`` is an
# error reported once there, not a duplicate id in every model file.
NOT_INHERITED = frozenset({"model_id"})

DEFAULT_PARALLELISM = 10
DEFAULT_MAX_CHANGE_PERCENT = 100.0
DEFAULT_WEBHOOK_TIMEOUT = 5.0
DEFAULT_DSN_ENV = "LLMPLAN_PG_DSN"
DEFAULT_PG_SCHEMA = "llmplan"


@dataclass(frozen=True)
class Origin:
    """Where a value was written: a display path and a 1-based line."""

    file: str
    line: int | None


@dataclass(frozen=True)
class ModelFile:
    """One model file with the environment's defaults merged under it.

    ``config`` is plain JSON data; ``lines`` maps the JSON paths written in
    the model file to their lines, ``inherited`` the paths whose value came
    from ``defaults`` to their place in ``environment.yaml``.  (Two maps, not
    one merged map of origins: building 20 objects per model is most of the
    cost of reading 10,000 models.)
    """

    address: str
    file: str
    config: dict[str, Any]
    lines: Mapping[JsonPath, int] = field(default_factory=dict, repr=False, compare=False)
    inherited: Mapping[JsonPath, Origin] = field(default_factory=dict, repr=False, compare=False)

    @property
    def model_id(self) -> str:
        return str(self.config.get("model_id"))

    def origin(self, path: JsonPath) -> Origin:
        """The origin of ``path`` or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            line = self.lines.get(prefix)
            if line is not None:
                return Origin(self.file, line)
            found = self.inherited.get(prefix)
            if found is not None:
                return found
        return Origin(self.file, None)


@dataclass(frozen=True)
class EnvironmentSource:
    """Everything read from an environment folder, and what could not be read."""

    name: str
    root: Path
    directory: Path
    settings: SourceDocument | None
    models: tuple[ModelFile, ...]
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...] = ()  # worth saying, not wrong: a hidden model file that is not read


@dataclass(frozen=True)
class GatewaySettings:
    region: str | None = None
    base_url: str | None = None
    login_url: str | None = None
    sandbox: bool = False


@dataclass(frozen=True)
class GovernanceSettings:
    webhook_url: str
    secret_env: str | None = None
    timeout_seconds: float = DEFAULT_WEBHOOK_TIMEOUT


@dataclass(frozen=True)
class ApplySettings:
    parallelism: int = DEFAULT_PARALLELISM
    max_change_percent: float = DEFAULT_MAX_CHANGE_PERCENT
    weakening: str = DEFAULT_WEAKENING_POLICY  # refuse | confirm | allow: a plan that weakens safety


@dataclass(frozen=True)
class StateSettings:
    """Where the environment's records live (``state:`` in environment.yaml)."""

    backend: str = "local"
    dsn_env: str = DEFAULT_DSN_ENV
    schema: str = DEFAULT_PG_SCHEMA


@dataclass(frozen=True)
class Environment:
    """A validated environment: settings and models sorted by address."""

    name: str
    root: Path
    directory: Path
    gateway: GatewaySettings
    governance: GovernanceSettings | None
    apply: ApplySettings
    policy: Mapping[str, Any] | None
    models: tuple[ModelFile, ...]
    state: StateSettings = StateSettings()
    safety: SafetyRules = field(default_factory=default_rules)
    warnings: tuple[Problem, ...] = ()

    @property
    def state_dir(self) -> Path:
        return self.root / "state" / self.name

    def model(self, address: str) -> ModelFile | None:
        for model in self.models:
            if model.address == address:
                return model
        return None


def display_path(path: Path, root: Path) -> str:
    """A path as the user should see it: relative to the project root if inside it."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def merge_defaults(address: str, document: SourceDocument, defaults_doc: SourceDocument | None) -> ModelFile:
    """Merge ``defaults`` under a model: mappings key by key, lists and values replaced."""
    if defaults_doc is None:
        return ModelFile(address, document.file, document.data, document.lines)
    inherited: dict[JsonPath, Origin] = {}
    for path, line in defaults_doc.lines.items():
        if path[:1] == ("defaults",) and len(path) > 1 and path[1] not in NOT_INHERITED:
            inherited[path[1:]] = Origin(defaults_doc.file, line)
    config = {key: _copy(value) for key, value in defaults_doc.data["defaults"].items() if key not in NOT_INHERITED}
    _merge_into(config, document.data, (), inherited)
    return ModelFile(address, document.file, config, document.lines, inherited)


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
        ),
        governance=GovernanceSettings(
            webhook_url=governance["webhook_url"],
            secret_env=governance.get("secret_env"),
            timeout_seconds=float(governance.get("timeout_seconds", DEFAULT_WEBHOOK_TIMEOUT)),
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
    )

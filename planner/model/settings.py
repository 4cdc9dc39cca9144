"""An environment as data: its settings, its model files and where each value was written.

Plain immutable data and the constants of the project layout. Reading the
files is :mod:`planner.adapters.project`; deciding whether they are valid,
:mod:`planner.core.validation`; building an :class:`Environment` from them,
:mod:`planner.core.environment`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from planner.model.errors import Problem
from planner.model.safety import DEFAULT_WEAKENING_POLICY, SafetyRules, default_rules
from planner.model.source import JsonPath, SourceDocument

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
DEFAULT_DELIVER_AFTER_APPLY = 20.0  # seconds an apply goes on delivering events after its last change
DEFAULT_DSN_ENV = "LLMPLAN_PG_DSN"
DEFAULT_PG_SCHEMA = "llmplan"
DEFAULT_RECORDS_TIMEOUT = 30.0  # seconds: one exchange with the records database


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
    written: Mapping[JsonPath, tuple[int, str]] = field(default_factory=dict, repr=False, compare=False)  # SourceDocument.written: explains how YAML read a value

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
    timeout_seconds: float | None = None  # how long to keep trying to reach the gateway (None: the client's 30 s)


@dataclass(frozen=True)
class GovernanceSettings:
    webhook_url: str
    secret_env: str | None = None
    timeout_seconds: float = DEFAULT_WEBHOOK_TIMEOUT
    deliver_after_apply_seconds: float = DEFAULT_DELIVER_AFTER_APPLY


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
    timeout_seconds: float = DEFAULT_RECORDS_TIMEOUT  # postgres: the deadline of one exchange with the database


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

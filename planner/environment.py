"""Reading ``environments/<env>/`` into desired model configurations.

Reading is separate from judging: this module turns files into plain data
that remembers its file and line, merges the environment's ``defaults`` under
each model, and reports what it cannot read; ``planner.validation`` decides
whether the data is acceptable; :func:`build_environment` turns accepted data
into typed objects.  Nothing here touches the network.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from planner.errors import EnvironmentNotFound, Problem
from planner.safety import DEFAULT_WEAKENING_POLICY, SafetyRules, default_rules, rules_for
from planner.yamlsource import JsonPath, SourceDocument, read_yaml_file

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
    safety: SafetyRules = field(default_factory=default_rules)

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


def list_environments(root: Path) -> list[str]:
    base = root / ENVIRONMENTS_DIR
    if not base.is_dir():
        return []
    return sorted(
        entry.name
        for entry in base.iterdir()
        if entry.is_dir() and ENVIRONMENT_NAME_PATTERN.match(entry.name)
    )


def environment_directory(root: Path, name: str) -> Path:
    """The folder of environment ``name``; refuses names that are paths."""
    available = list_environments(root)
    if not ENVIRONMENT_NAME_PATTERN.match(name) or name not in available:
        raise EnvironmentNotFound(name, available, display_path(root / ENVIRONMENTS_DIR, root) + "/")
    return root / ENVIRONMENTS_DIR / name


def read_environment(root: Path, name: str) -> EnvironmentSource:
    """Read an environment folder; unreadable files become problems, not exceptions."""
    root = root.resolve()
    directory = environment_directory(root, name)
    problems: list[Problem] = []

    settings_path = directory / ENVIRONMENT_FILE
    settings_display = display_path(settings_path, root)
    settings: SourceDocument | None = None
    real_directory = os.path.realpath(directory)
    if settings_path.is_file():
        settings, found = _read_inside(settings_path, real_directory, settings_display)
        problems.extend(found)
    else:
        problems.append(Problem(settings_display, None, "", f"missing {ENVIRONMENT_FILE}; every environment needs one (at least a gateway)"))

    defaults = settings.data.get("defaults") if settings is not None else None
    defaults_doc = settings if isinstance(defaults, dict) else None

    models_dir = directory / MODELS_DIR
    models: list[ModelFile] = []
    if not models_dir.is_dir():
        problems.append(Problem(display_path(models_dir, root), None, "", f"missing {MODELS_DIR}/ folder; put one YAML file per model there"))
    else:
        seen: dict[str, str] = {}
        # a plain file in a models/ folder that is itself inside the environment
        # needs no realpath() (a syscall per path component, per file)
        models_inside = Path(os.path.realpath(models_dir)).is_relative_to(real_directory)
        display_prefix = display_path(models_dir, root) + os.sep
        with os.scandir(models_dir) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
        for entry in entries:
            address, suffix = os.path.splitext(entry.name)
            if entry.name.startswith(".") or suffix not in MODEL_SUFFIXES:
                continue
            display = display_prefix + entry.name
            if not ADDRESS_PATTERN.match(address):
                problems.append(Problem(display, None, "", f"file name {address!r} is not a valid address: use lowercase letters, digits, '-' and '_', starting with a letter or digit"))
                continue
            if address in seen:
                problems.append(Problem(display, None, "", f"address {address!r} is also defined by {seen[address]}"))
                continue
            seen[address] = display
            if models_inside and not entry.is_symlink() and entry.is_file(follow_symlinks=False):
                document, found = read_yaml_file(entry.path, display)
            else:
                document, found = _read_inside(Path(entry.path), real_directory, display)
            problems.extend(found)
            if document is not None:
                models.append(merge_defaults(address, document, defaults_doc))

    return EnvironmentSource(name, root, directory, settings, tuple(models), tuple(problems))


def _read_inside(path: Path, real_directory: str, display: str) -> tuple[SourceDocument | None, list[Problem]]:
    """Read ``path`` unless it leaves the environment folder (a symlink out)."""
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(real_directory):
        return None, [Problem(display, None, "", "file is a link to outside the environment folder; refusing to read it")]
    if not real.is_file():
        return None, [Problem(display, None, "", "not a regular file")]
    return read_yaml_file(real, display)


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
    )

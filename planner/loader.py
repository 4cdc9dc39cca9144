"""Reading ``environments/<env>/`` from disk into an :class:`~planner.environment.EnvironmentSource`.

The imperative edge of loading: folders, files, symlinks. Unreadable files
become problems (with file and line), never exceptions, so validate can
report every problem at once.
"""

from __future__ import annotations

import os
from pathlib import Path

from planner.environment import (
    ADDRESS_PATTERN,
    ENVIRONMENT_FILE,
    ENVIRONMENT_NAME_PATTERN,
    ENVIRONMENTS_DIR,
    MODEL_SUFFIXES,
    MODELS_DIR,
    EnvironmentSource,
    ModelFile,
    StateSettings,
    display_path,
    merge_defaults,
    state_settings,
)
from planner.errors import EnvironmentNotFound, Problem
from planner.printable import printable
from planner.yamlsource import SourceDocument, read_yaml_file


HIDDEN_FILE = "hidden file, not read: a model file whose name starts with '.' configures nothing; rename it to manage that model, or move it out of models/"


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
    warnings: list[Problem] = []
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
            if entry.name.startswith(".") and entry.name.endswith(MODEL_SUFFIXES):
                warnings.append(Problem(display_prefix + entry.name, None, "", HIDDEN_FILE))
                continue
            if entry.name.startswith(".") or suffix not in MODEL_SUFFIXES:
                continue
            display = display_prefix + entry.name
            if not ADDRESS_PATTERN.match(address):
                problems.append(Problem(display, None, "", f"file name '{printable(address)}' is not a valid address: use lowercase letters, digits, '-' and '_', starting with a letter or digit"))
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

    return EnvironmentSource(name, root, directory, settings, tuple(models), tuple(problems), tuple(warnings))


def _read_inside(path: Path, real_directory: str, display: str) -> tuple[SourceDocument | None, list[Problem]]:
    """Read ``path`` unless it leaves the environment folder (a symlink out)."""
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(real_directory):
        return None, [Problem(display, None, "", "file is a link to outside the environment folder; refusing to read it")]
    if not real.is_file():
        return None, [Problem(display, None, "", "not a regular file")]
    return read_yaml_file(real, display)


def read_state_settings(root: Path, name: str) -> StateSettings:
    """The ``state:`` block alone, for the records commands: they must work when
    the rest of the YAML is broken (that is when people look at state)."""
    from planner import schemas
    from planner.errors import ValidationFailed

    root = root.resolve()
    path = environment_directory(root, name) / ENVIRONMENT_FILE
    display = display_path(path, root)
    if not path.is_file():
        return StateSettings()
    document, problems = read_yaml_file(path, display)
    if document is None:
        raise ValidationFailed(problems, what=f"{display} cannot be read, so where the records of environment {name} live is unknown")
    block = document.data.get("state") if isinstance(document.data, dict) else None
    subschema = schemas.load_schema(schemas.ENVIRONMENT)["properties"]["state"]
    problems = [
        Problem(display, document.lines.get(("state", *error.absolute_path)) or document.lines.get(("state",)), ".".join(["state", *map(str, error.absolute_path)]), error.message)
        for error in schemas.validator_for(subschema).iter_errors(block if block is not None else {})
    ]
    if problems:
        raise ValidationFailed(problems, what=f"the state block of {display} is not valid")
    return state_settings(block)

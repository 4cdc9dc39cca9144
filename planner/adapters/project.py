"""Reading ``environments/<env>/`` from disk into an :class:`~planner.model.settings.EnvironmentSource`.

The imperative edge of loading: folders, files, symlinks. Unreadable files
become problems (with file and line), never exceptions, so validate can
report every problem at once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from planner.core.environment import merge_defaults, state_settings
from planner.core.yamlsource import MAX_FILE_BYTES, parse_yaml
from planner.model import schemas
from planner.model.errors import ConfigurationError, EnvironmentNotFound, Problem, ValidationFailed
from planner.model.printable import printable
from planner.model.settings import (
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
)
from planner.model.source import SourceDocument

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


def find_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding ``environments/``, as git
    finds ``.git``: llmplan works from any folder inside a project."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / ENVIRONMENTS_DIR).is_dir():
            return folder
    return None


def environment_directory(root: Path, name: str) -> Path:
    """The folder of environment ``name``; refuses names that are paths, naming the folder searched."""
    available = list_environments(root)
    if not ENVIRONMENT_NAME_PATTERN.match(name) or name not in available:
        searched = root.resolve() / ENVIRONMENTS_DIR
        raise EnvironmentNotFound(name, available, f"{searched}{os.sep}", exists=searched.is_dir())
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


def read_yaml_file(path: str | os.PathLike[str], display: str, max_bytes: int = MAX_FILE_BYTES) -> tuple[SourceDocument | None, list[Problem]]:
    """Read and parse one YAML file; return the document or the problems."""
    try:
        size, raw = _read_limited(path, max_bytes + 1)
    except OSError as exc:
        return None, [Problem(display, None, "", f"cannot read file: {exc.strerror or exc}")]
    if size > max_bytes:
        return None, [Problem(display, None, "", f"file is {size} bytes, over the {max_bytes}-byte limit")]
    if len(raw) > max_bytes:  # grew while we read it, or a device that reports no size
        return None, [Problem(display, None, "", f"file is over the {max_bytes}-byte limit")]
    return parse_yaml(raw, display)



def _read_limited(path: str | os.PathLike[str], limit: int) -> tuple[int, bytes]:
    """(the size the file reports, at most ``limit`` of its bytes; none if the size is over it).

    Asks for the reported size plus one byte (to notice a file that grows),
    not for ``limit`` bytes: a 1 MiB read buffer per file made reading 10,000
    small files cost 0.6 s instead of 0.1 s.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        size = os.fstat(fd).st_size
        if size >= limit:
            return size, b""
        chunks: list[bytes] = []
        total = 0
        want = size + 1 if size else limit
        while total < limit:
            chunk = os.read(fd, min(want, limit - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if size and total <= size and len(chunk) < want:
                break  # a regular file's short read is its end
            want = limit - total
        return size, b"".join(chunks)
    finally:
        os.close(fd)


def environment_paths(root: Path, paths: Iterable[Path]) -> dict[str, list[Path]]:
    """Each environment holding one of ``paths``, with the paths inside it (absolute).

    ``environments/`` itself stands for every environment. A path outside
    ``environments/<env>/`` is an error naming it (pre-commit passes every
    changed file of the repository unless the hook's ``files`` limits it); an
    environment that does not exist is named with the folder searched. A
    path need not exist: a deleted model file still changes its environment.
    """
    base = root.resolve() / ENVIRONMENTS_DIR
    selected: dict[str, list[Path]] = {}
    outside: list[str] = []
    for given in paths:
        absolute = Path(os.path.normpath(given.absolute()))
        # a symbolic link is named where it lies, not where it points
        located = absolute.parent.resolve() / absolute.name if absolute.is_symlink() else absolute.resolve()
        if located == base:
            for name in list_environments(root):
                selected.setdefault(name, []).append(base / name)
            continue
        parts = located.relative_to(base).parts if located.is_relative_to(base) else ()
        if not parts or not ENVIRONMENT_NAME_PATTERN.match(parts[0]) or (len(parts) == 1 and not located.is_dir() and located.exists()):
            outside.append(str(given))
            continue
        environment_directory(root, parts[0])  # an unknown environment is named with the folder searched
        selected.setdefault(parts[0], []).append(located)
    if outside:
        listing = ", ".join(outside[:5]) + (f" and {len(outside) - 5} more" if len(outside) > 5 else "")
        raise ConfigurationError(
            f"{listing} {'is' if len(outside) == 1 else 'are'} not inside an environment (a folder under {base}{os.sep})",
            hint="give files or folders under environments/<env>/ (a pre-commit hook: limit it with files: ^environments/), or --root naming the project that holds them",
        )
    return selected

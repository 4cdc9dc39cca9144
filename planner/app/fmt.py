"""``llmplan fmt``: every environment file in the canonical YAML layout (the layout itself: :mod:`planner.adapters.yamlfmt`)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from planner.adapters import yamlfmt
from planner.adapters.project import environment_directory, environment_paths, list_environments
from planner.model.errors import ConfigurationError
from planner.model.settings import ENVIRONMENTS_DIR


def format_environments(root: Path, names: Sequence[str], *, check: bool, paths: Sequence[Path] = ()) -> list[yamlfmt.Formatted]:
    """The files of ``names`` and ``paths`` (default: every environment) that are not in the canonical
    layout, rewritten unless ``check``; a file llmplan cannot read is an error naming it, never touched."""
    if not (root / ENVIRONMENTS_DIR).is_dir():
        raise ConfigurationError(
            f"there is no {root.resolve() / ENVIRONMENTS_DIR}/ folder to format",
            hint="run llmplan in the project folder (the one holding environments/) or any folder below it, or pass --root",
        )
    chosen = list(dict.fromkeys(names)) or ([] if paths else list_environments(root))
    for name in chosen:
        environment_directory(root, name)  # an unknown name is an error naming the folder searched
    files = yamlfmt.environment_files(root.resolve(), chosen)
    if paths:
        files.extend(file for file in _files_at(root, paths) if file not in files)
    changed = [result for result in yamlfmt.format_files(root, files) if result.changed]
    if not check:
        yamlfmt.write(changed)
    return changed


def _files_at(root: Path, paths: Sequence[Path]) -> list[tuple[Path, str]]:
    """The environment files (environment.yaml, models/*.yaml) that ``paths`` name or hold.

    A path naming any other file is an error, so that a hook never lets a
    file pass unchecked."""
    root = root.resolve()
    environment_paths(root, paths)  # every path outside an environment named at once
    listed: dict[str, dict[Path, str]] = {}
    files: dict[Path, str] = {}
    others: list[str] = []
    for given in paths:
        for name, inside in environment_paths(root, [given]).items():
            if name not in listed:
                listed[name] = dict(yamlfmt.environment_files(root, [name]))
            for path in inside:
                if path in listed[name]:
                    files[path] = listed[name][path]
                elif path.is_dir():
                    files.update((file, kind) for file, kind in listed[name].items() if path in file.parents)
                else:
                    others.append(str(given) if path.exists() else f"{given} (no such file)")
    if others:
        raise ConfigurationError(
            f"not an environment file: {', '.join(others)}; llmplan fmt formats environments/<env>/environment.yaml and environments/<env>/models/*.yaml",
            hint="a pre-commit hook: limit it with files: ^environments/[^/]+/(environment\\.yaml|models/[^/]+\\.ya?ml)$",
        )
    return list(files.items())

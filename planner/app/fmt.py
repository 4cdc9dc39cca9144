"""``llmplan fmt``: every environment file in the canonical YAML layout (the layout itself: :mod:`planner.adapters.yamlfmt`)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from planner.adapters import yamlfmt
from planner.adapters.project import environment_directory, list_environments
from planner.model.errors import ConfigurationError
from planner.model.settings import ENVIRONMENTS_DIR


def format_environments(root: Path, names: Sequence[str], *, check: bool) -> list[yamlfmt.Formatted]:
    """The files of ``names`` (default: every environment) that are not in the canonical layout,
    rewritten unless ``check``; a file llmplan cannot read is an error naming it, never touched."""
    if not (root / ENVIRONMENTS_DIR).is_dir():
        raise ConfigurationError(
            f"there is no {root.resolve() / ENVIRONMENTS_DIR}/ folder to format",
            hint="run llmplan in the project folder (the one holding environments/) or any folder below it, or pass --root",
        )
    chosen = list(dict.fromkeys(names)) or list_environments(root)
    for name in chosen:
        environment_directory(root, name)  # an unknown name is an error naming the folder searched
    changed = [result for result in yamlfmt.format_files(root, yamlfmt.environment_files(root, chosen)) if result.changed]
    if not check:
        yamlfmt.write(changed)
    return changed

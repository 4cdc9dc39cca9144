"""``llmplan fmt``: environment folders in one canonical YAML layout, comments kept.

What fmt changes, and nothing else:

* indentation: two spaces, list items indented under their key (``  - ``);
* model files (and ``defaults`` in ``environment.yaml``): fields in the
  schema's order (model_id, temperature_matrix, safety_filters, max_tokens,
  compliance_mode; default, creative, precise; filter_type, action,
  threshold), and ``temperature_matrix`` and each safety filter as one flow
  mapping, the layout of the examples and of ``llmplan import``;
* YAML 1.1 booleans spelled ``true``/``false`` (llmplan reads ``yes``,
  ``on``, ``off`` and ``no`` as booleans, which surprises most readers);
* text that another YAML reader would take for a boolean or a number
  quoted (``'y'``, ``'0o17'``);
* trailing spaces and a missing final newline.

Comments stay (ruamel.yaml's round trip, imported only here). A file is
rewritten only when llmplan reads the new text as exactly the same data,
so fmt can never change a configuration; a file llmplan cannot read is
reported, never touched.
"""

from __future__ import annotations

import difflib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from planner.adapters.files import atomic_write_text
from planner.adapters.project import read_yaml_file
from planner.core.yamlsource import parse_yaml
from planner.model.configuration import FIELDS, TEMPERATURE_KEYS
from planner.model.errors import Problem, ValidationFailed
from planner.model.settings import ENVIRONMENT_FILE, ENVIRONMENTS_DIR, MODEL_SUFFIXES, MODELS_DIR, display_path

FILTER_KEYS = ("filter_type", "action", "threshold")
MODEL = "model"
ENVIRONMENT = "environment"

_YAML11_TRUE = re.compile(r"^(?:yes|Yes|YES|on|On|ON)$")
_YAML11_FALSE = re.compile(r"^(?:no|No|NO|off|Off|OFF)$")
# text llmplan reads as text that other YAML readers would not: YAML 1.1's y/n, YAML 1.2's octal
_AMBIGUOUS_TEXT = re.compile(r"^(?:[yYnN]|0o[0-7]+)$")


def format_yaml(text: str, kind: str) -> str:
    """``text`` in the canonical layout; ``kind`` is MODEL or ENVIRONMENT."""
    from ruamel.yaml import YAML  # lazy: only fmt needs the comment-keeping round trip (0.07 s to import)

    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never fold a line
    yaml.preserve_quotes = True
    data = yaml.load(text)
    if data is None:
        return text
    data = _plain_scalars(data)
    if kind == MODEL:
        _canonical_model(data)
    elif isinstance(data.get("defaults"), dict):
        _canonical_model(data["defaults"])
    out = io.StringIO()
    yaml.dump(data, out)
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    return "\n".join(lines).strip("\n") + "\n"


def _plain_scalars(value: Any) -> Any:
    """YAML 1.1 booleans as booleans, ambiguous text quoted; in place for containers."""
    from ruamel.yaml.scalarstring import SingleQuotedScalarString  # lazy, as in format_yaml

    if isinstance(value, dict):
        for key in list(value):
            value[key] = _plain_scalars(value[key])
        return value
    if isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = _plain_scalars(item)
        return value
    if type(value) is str:  # a plain scalar (quoted ones keep their quoting class)
        if _YAML11_TRUE.match(value):
            return True
        if _YAML11_FALSE.match(value):
            return False
        if _AMBIGUOUS_TEXT.match(value):
            return SingleQuotedScalarString(value)
    return value


def _reorder(mapping: Any, order: Sequence[str]) -> None:
    keys = [key for key in order if key in mapping] + [key for key in mapping if key not in order]
    for key in keys:
        mapping.move_to_end(key)


def _flow(mapping: Any) -> None:
    """One line, unless a comment sits inside the mapping (it would be lost)."""
    if hasattr(mapping, "fa") and not mapping.ca.items:
        mapping.fa.set_flow_style()


def _canonical_model(data: Any) -> None:
    if not hasattr(data, "move_to_end"):
        return
    _reorder(data, FIELDS)
    temperatures = data.get("temperature_matrix")
    if isinstance(temperatures, dict):
        _reorder(temperatures, TEMPERATURE_KEYS)
        _flow(temperatures)
    filters = data.get("safety_filters")
    if isinstance(filters, list):
        if hasattr(filters, "fa"):
            filters.fa.set_block_style()
        for item in filters:
            if isinstance(item, dict):
                _reorder(item, FILTER_KEYS)
                _flow(item)


def _same_data(first: Any, second: Any) -> bool:
    """Equal as llmplan reads them, types included (1 is not 1.0, true is not 1)."""
    return json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


@dataclass(frozen=True)
class Formatted:
    """One file fmt looked at: its display path and, if it would change, the new text."""

    path: Path
    display: str
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def diff(self) -> str:
        return "".join(difflib.unified_diff(self.old.splitlines(True), self.new.splitlines(True), f"a/{self.display}", f"b/{self.display}"))


def environment_files(root: Path, names: Iterable[str]) -> list[tuple[Path, str]]:
    """(file, kind) of every environment.yaml and model file of the named environments."""
    files: list[tuple[Path, str]] = []
    for name in names:
        folder = root / ENVIRONMENTS_DIR / name
        if (folder / ENVIRONMENT_FILE).is_file():
            files.append((folder / ENVIRONMENT_FILE, ENVIRONMENT))
        models = folder / MODELS_DIR
        if models.is_dir():
            files.extend((path, MODEL) for path in sorted(models.iterdir()) if path.suffix in MODEL_SUFFIXES and not path.name.startswith(".") and path.is_file())
    return files


def format_files(root: Path, files: Iterable[tuple[Path, str]]) -> list[Formatted]:
    """Every file in its canonical layout, or ValidationFailed naming each one
    llmplan cannot read (or that would not read back the same): then nothing
    is formatted."""
    root = root.resolve()
    results: list[Formatted] = []
    problems: list[Problem] = []
    for path, kind in files:
        display = display_path(path.resolve(), root)
        document, found = read_yaml_file(path, display)
        if document is None:
            problems.extend(found)
            continue
        old = path.read_text(encoding="utf-8")
        new = format_yaml(old, kind)
        again, _ = parse_yaml(new, display)
        if again is None or not _same_data(again.data, document.data):
            problems.append(Problem(display, None, "", "llmplan fmt cannot lay this file out without changing what it says; format it by hand"))
            continue
        results.append(Formatted(path, display, old, new))
    if problems:
        raise ValidationFailed(problems, what="llmplan fmt formats only files it can read; nothing was changed")
    return results


def write(results: Iterable[Formatted]) -> None:
    for result in results:
        if result.changed:
            atomic_write_text(result.path, result.new)

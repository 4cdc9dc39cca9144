"""Every YAML file is read and composed once, with libyaml, and the pitfalls are explained from that one pass.

A unit test of loading (``planner.app.environments``): the composer is
wrapped to count what it composes, and PyYAML's module-level loading
functions are wrapped to catch any other way of composing a file.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.app.environments import load_environment, validate_environment
from planner.core import yamlsource
from planner.model.errors import ValidationFailed
from tests.foundation.foundation_helpers import VALID_MODEL, Project

SECOND_ID = "b2c3d4e5-f6a7-8901-bcde-f12345678901"


@pytest.fixture
def composed(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """The texts composed while the test runs, each with how many times."""
    texts: Counter[str] = Counter()
    original = yamlsource._Loader.__init__

    def counting_init(self: Any, stream: Any) -> None:
        texts[stream.decode("utf-8") if isinstance(stream, bytes) else str(stream)] += 1
        original(self, stream)

    monkeypatch.setattr(yamlsource._Loader, "__init__", counting_init)
    for name in ("compose", "compose_all", "load", "load_all", "safe_load", "safe_load_all", "full_load", "parse"):

        def elsewhere(*args: Any, _name: str = name, **kwargs: Any) -> Any:
            raise AssertionError(f"yaml.{_name} called: every file is composed once, by planner.core.yamlsource.compose")

        monkeypatch.setattr(yaml, name, elsewhere)
    return texts


def files_of(environment: Path) -> dict[str, str]:
    return {str(path.relative_to(environment)): path.read_text(encoding="utf-8") for path in sorted(environment.rglob("*.yaml"))}


def test_a_valid_environment_composes_each_file_once(project: Project, composed: Counter[str]) -> None:
    models = {f"bot-{index}": VALID_MODEL.replace("a1b2c3d4-e5f6-7890-abcd-ef1234567890", f"{index:08d}-e5f6-7890-abcd-ef1234567890") for index in range(5)}
    directory = project.environment("dev", models=models)

    environment = load_environment(project.root, "dev")

    assert len(environment.models) == 5
    files = files_of(directory)
    assert len(files) == 6  # environment.yaml and 5 models
    assert dict(composed) == {text: 1 for text in files.values()}


def test_the_pitfalls_are_explained_from_the_one_pass(project: Project, composed: Counter[str]) -> None:
    """A YAML 1.1 boolean, a number where text is expected and a tab: each
    file still composed once, the messages with line and column."""
    directory = project.environment(
        "dev",
        settings="gateway: {sandbox: true}\ndefaults:\n  compliance_mode: off\n",
        models={
            "yes-word": VALID_MODEL.replace("compliance_mode: strict", "compliance_mode: yes"),
            "hex-id": VALID_MODEL.replace("model_id: a1b2c3d4-e5f6-7890-abcd-ef1234567890", "model_id: 0x1F"),
            "tabbed": VALID_MODEL.replace("  - {filter_type: pii", "\t- {filter_type: pii"),
            "fine": VALID_MODEL.replace("a1b2c3d4-e5f6-7890-abcd-ef1234567890", SECOND_ID),
        },
    )

    with pytest.raises(ValidationFailed) as failed:
        validate_environment(project.root, "dev", environ={})

    shown = {(problem.file.rsplit("/", 1)[-1], problem.line, problem.column, problem.path): problem.message for problem in failed.value.problems}
    assert "YAML 1.1 reads the unquoted word yes as the boolean true" in shown[("yes-word.yaml", 7, 18, "compliance_mode")]
    assert "YAML reads the unquoted 0x1F as the number 31" in shown[("hex-id.yaml", 1, 11, "model_id")]
    assert "YAML 1.1 reads the unquoted word off as the boolean false" in shown[("environment.yaml", 3, 20, "defaults.compliance_mode")]
    assert "a tab is used for indentation" in shown[("tabbed.yaml", 4, 1, "")]
    files = files_of(directory)
    assert len(files) == 5
    assert dict(composed) == {text: 1 for text in files.values()}


def test_the_composer_is_libyamls() -> None:
    """The C loader stays on the path: composing in pure Python is ten times slower."""
    assert yaml.__with_libyaml__
    assert issubclass(yamlsource._Loader, yaml.CSafeLoader)

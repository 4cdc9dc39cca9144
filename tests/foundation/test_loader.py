"""The loader: YAML with a line for every value, environments, defaults merged under models."""

from __future__ import annotations

import os
import textwrap
import time
import tracemalloc
from pathlib import Path

import pytest

from planner.adapters.project import environment_directory, list_environments, read_environment, read_yaml_file
from planner.app.environments import load_environment
from planner.core.yamlsource import parse_yaml
from planner.model.errors import EnvironmentNotFound, ValidationFailed
from planner.model.settings import Origin
from planner.model.source import SourceDocument, format_path
from tests.foundation.foundation_helpers import VALID_MODEL, Project, run_main


def parse(text: str) -> SourceDocument:
    document, problems = parse_yaml(textwrap.dedent(text), "model.yaml")
    assert problems == [] and document is not None, problems
    return document


# --- yamlsource: lines --------------------------------------------------------


def test_every_nested_value_keeps_its_line() -> None:
    document = parse(
        """\
        # a comment takes a line too
        model_id: a1b2c3d4-e5f6-7890-abcd-ef1234567890
        temperature_matrix:
          default: 0.7
          creative: 1.2
          precise: 0.3
        safety_filters:
          - filter_type: pii
            action: redact
            threshold: 85
          - {filter_type: self_harm, action: block, threshold: 10}
        max_tokens: 2048
        """
    )

    assert document.lines[("model_id",)] == 2
    assert document.lines[("temperature_matrix", "precise")] == 6
    assert document.lines[("safety_filters", 0)] == 8
    assert document.lines[("safety_filters", 0, "threshold")] == 10
    assert document.lines[("safety_filters", 1)] == 11
    assert document.lines[("safety_filters", 1, "action")] == 11
    assert document.lines[("max_tokens",)] == 12


def test_a_path_without_a_line_of_its_own_borrows_its_nearest_ancestors() -> None:
    document = parse("a: 1\nsafety_filters:\n  - {filter_type: pii}\n")

    # a missing field inside the first filter is reported where the filter is
    assert document.line_of(("safety_filters", 0, "threshold")) == 3
    assert document.line_of(("nothing", "here")) == 1  # the document itself


def test_values_keep_their_json_types() -> None:
    document = parse(
        """\
        an_int: 2048
        a_float: 0.5
        a_bool: true
        a_null: ~
        a_date: 2024-01-31
        a_hex: 0x10
        """
    )

    assert document.data == {"an_int": 2048, "a_float": 0.5, "a_bool": True, "a_null": None, "a_date": "2024-01-31", "a_hex": 16}
    assert type(document.data["an_int"]) is int


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        (("safety_filters", 1, "threshold"), "safety_filters[1].threshold"),
        (("max_tokens",), "max_tokens"),
        ((), ""),
        (("a", 0, 1, "b"), "a[0][1].b"),
    ],
)
def test_format_path(path: tuple[str | int, ...], shown: str) -> None:
    assert format_path(path) == shown


def test_file_over_the_size_limit_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: 1\n" + "# filler\n" * 20)

    document, problems = read_yaml_file(path, "big.yaml", max_bytes=100)

    assert document is None
    assert [str(p) for p in problems] == [f"big.yaml: file is {path.stat().st_size} bytes, over the 100-byte limit"]


def test_an_unreadable_path_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    document, problems = read_yaml_file(tmp_path / "gone.yaml", "gone.yaml")

    assert document is None
    assert len(problems) == 1 and problems[0].message.startswith("cannot read file")


def test_billion_laughs_is_refused_quickly_in_little_memory() -> None:
    bomb = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 9)
    )  # 10^9 values once expanded
    tracemalloc.start()
    started = time.monotonic()
    try:
        document, problems = parse_yaml(bomb, "bomb.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - started

    assert document is None
    assert "alias/anchor expansion" in problems[0].message
    assert peak < 64 * 1024 * 1024, f"peak {peak} bytes"
    assert elapsed < 10, f"{elapsed:.1f} s"  # unbounded expansion would take hours


def test_aliases_of_one_long_string_cannot_flood_the_output(project: Project) -> None:
    """Under the node cap, 3000 aliases of a 300 KB string once made 2 GB of
    error messages (17 GB of memory): the expanded text is capped too."""
    big = "x" * 300_000
    filters = ", ".join(["*f"] * 3000)
    project.environment(
        models={
            "flood": f"model_id: a1b2c3d4-e5f6-7890-abcd-ef1234567890\n"
            f"temperature_matrix: {{default: 0.7, creative: 1.2, precise: 0.3}}\n"
            f"max_tokens: 2048\ns: &s {big}\nf: &f {{filter_type: *s, action: *s, threshold: *s}}\n"
            f"safety_filters: [{filters}]\n"
        }
    )

    run = run_main(["validate", "--env", "corpus", "--root", str(project.root)])

    assert run.code == 1
    assert "characters of values (alias/anchor expansion?)" in run.stderr
    assert len(run.stdout) + len(run.stderr) < 10_000


# --- environments --------------------------------------------------------------


def test_environments_are_the_folders_under_environments(project: Project) -> None:
    project.environment("prod")
    project.environment("dev")
    (project.root / "environments" / ".git-keep").mkdir()  # hidden folders are not environments
    (project.root / "environments" / "notes.txt").write_text("not an environment")

    assert list_environments(project.root) == ["dev", "prod"]
    with pytest.raises(EnvironmentNotFound) as raised:
        environment_directory(project.root, "staging")
    assert raised.value.available == ("dev", "prod")
    assert f"environment 'staging' not found in {project.root.resolve()}/environments/ (available: dev, prod)" == raised.value.message


@pytest.mark.parametrize("name", ["..", "../prod", "/etc", "dev/models", ".git-keep", "", "dev\n"])
def test_an_environment_name_is_never_a_path(project: Project, name: str) -> None:
    project.environment("dev")
    (project.root / "environments" / ".git-keep").mkdir()

    with pytest.raises(EnvironmentNotFound):
        environment_directory(project.root, name)


def test_display_paths_are_relative_to_the_project_root(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.environment(models={"support-bot": VALID_MODEL})
    monkeypatch.chdir(project.root.parent)

    source = read_environment(Path("project"), "corpus")

    assert source.settings is not None and source.settings.file == "environments/corpus/environment.yaml"
    assert [m.file for m in source.models] == ["environments/corpus/models/support-bot.yaml"]


def test_only_yaml_files_are_models_and_the_file_stem_is_the_address(project: Project) -> None:
    project.environment(models={"support-bot": VALID_MODEL})
    project.write("models/summarizer.yml", VALID_MODEL.replace("a1b2c3d4-e5f6-7890-abcd-ef1234567890", "b2c3d4e5-f6a7-4890-9bcd-ef1234567891"))
    project.write("models/README.md", "# notes about the models\n")
    project.write("models/.support-bot.yaml.swp", "editor swap file")
    project.write("models/support-bot.yaml.orig", "left over from a merge")

    source = read_environment(project.root, "corpus")

    assert source.problems == ()
    assert sorted(m.address for m in source.models) == ["summarizer", "support-bot"]


# --- defaults ------------------------------------------------------------------

SETTINGS_WITH_DEFAULTS = """\
gateway: {sandbox: true}
defaults:
  compliance_mode: standard
  temperature_matrix:
    creative: 1.0
    precise: 0.2
  safety_filters:
    - {filter_type: pii, action: redact, threshold: 80}
    - {filter_type: profanity, action: flag, threshold: 50}
  max_tokens: 1024
"""


def test_defaults_merge_mappings_key_by_key_and_replace_lists(project: Project) -> None:
    project.environment(
        settings=SETTINGS_WITH_DEFAULTS,
        models={
            "support-bot": textwrap.dedent(
                """\
                model_id: a1b2c3d4-e5f6-7890-abcd-ef1234567890
                temperature_matrix:
                  default: 0.7
                  creative: 1.2
                safety_filters:
                  - {filter_type: self_harm, action: block, threshold: 10}
                """
            )
        },
    )

    (model,) = read_environment(project.root, "corpus").models

    assert model.config == {
        "compliance_mode": "standard",  # inherited
        "temperature_matrix": {"default": 0.7, "creative": 1.2, "precise": 0.2},  # merged: precise inherited
        "safety_filters": [{"filter_type": "self_harm", "action": "block", "threshold": 10}],  # replaced, not appended
        "max_tokens": 1024,  # inherited
        "model_id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
    }


def test_origins_point_at_the_file_and_line_each_value_came_from(project: Project) -> None:
    project.environment(
        settings=SETTINGS_WITH_DEFAULTS,
        models={
            "support-bot": "model_id: a1b2c3d4-e5f6-7890-abcd-ef1234567890\n"
            "temperature_matrix:\n  default: 0.7\n  creative: 1.2\n"
            "safety_filters:\n  - {filter_type: self_harm, action: block, threshold: 10}\n"
        },
    )
    settings = "environments/corpus/environment.yaml"
    model_file = "environments/corpus/models/support-bot.yaml"

    (model,) = read_environment(project.root, "corpus").models

    assert model.origin(("temperature_matrix", "precise")) == Origin(settings, 6)
    assert model.origin(("temperature_matrix", "creative")) == Origin(model_file, 4)
    assert model.origin(("max_tokens",)) == Origin(settings, 10)
    assert model.origin(("compliance_mode",)) == Origin(settings, 3)
    assert model.origin(("safety_filters", 0, "threshold")) == Origin(model_file, 6)
    # the replaced list's second default item is gone, and so is its origin
    assert model.origin(("safety_filters", 1, "threshold")) == Origin(model_file, 5)
    assert model.origin(("not", "there")) == Origin(model_file, 1)


def test_each_model_gets_its_own_copy_of_the_defaults(project: Project) -> None:
    other = VALID_MODEL.replace("a1b2c3d4-e5f6-7890-abcd-ef1234567890", "b2c3d4e5-f6a7-4890-9bcd-ef1234567891")
    strip = lambda text: "\n".join(line for line in text.splitlines() if "filter" not in line and "max_tokens" not in line) + "\n"  # noqa: E731
    project.environment(settings=SETTINGS_WITH_DEFAULTS, models={"a": strip(VALID_MODEL), "b": strip(other)})

    a, b = read_environment(project.root, "corpus").models
    a.config["safety_filters"].append("changed")

    assert b.config["safety_filters"] == [
        {"filter_type": "pii", "action": "redact", "threshold": 80},
        {"filter_type": "profanity", "action": "flag", "threshold": 50},
    ]


def test_a_model_id_in_defaults_is_not_inherited(project: Project) -> None:
    project.environment(
        settings="gateway: {sandbox: true}\ndefaults:\n  model_id: a1b2c3d4-e5f6-7890-abcd-ef1234567890\n",
        models={"a": "max_tokens: 1\n", "b": "max_tokens: 2\n"},
    )

    models = read_environment(project.root, "corpus").models

    assert all("model_id" not in m.config for m in models)


# --- typed environment -------------------------------------------------------------


def test_a_valid_environment_becomes_typed_settings_and_sorted_models(project: Project) -> None:
    project.environment(
        settings="gateway: {region: eu-west-1}\ngovernance: {webhook_url: 'https://gov.example.com/hook', secret_env: GOV_SECRET}\napply: {max_change_percent: 20}\n",
        models={
            "zeta": VALID_MODEL,
            "alpha": VALID_MODEL.replace("a1b2c3d4-e5f6-7890-abcd-ef1234567890", "b2c3d4e5-f6a7-4890-9bcd-ef1234567891"),
        },
    )

    environment = load_environment(project.root, "corpus")

    assert [m.address for m in environment.models] == ["alpha", "zeta"]
    assert environment.gateway.region == "eu-west-1" and environment.gateway.sandbox is False
    assert environment.governance is not None and environment.governance.secret_env == "GOV_SECRET"
    assert environment.governance.timeout_seconds == 5.0  # documented default
    assert environment.apply.parallelism == 10  # documented default
    assert environment.apply.max_change_percent == 20.0
    assert environment.policy is None
    assert environment.state_dir == project.root.resolve() / "state" / "corpus"


def test_loading_an_invalid_environment_raises_with_every_problem(project: Project) -> None:
    project.environment(settings="gateway: {}\n", models={"a": "max_tokens: 0\n"})

    with pytest.raises(ValidationFailed) as raised:
        load_environment(project.root, "corpus")

    assert len(raised.value.problems) == 5  # gateway, 3 missing fields, max_tokens 0
    assert raised.value.message.startswith("environment corpus is not valid: 5 problems\n")


def test_special_files_in_models_are_refused_unread(project: Project) -> None:
    """Reading a FIFO would block forever; a dangling link has nothing to read."""
    project.environment(models={"support-bot": VALID_MODEL})
    os.mkfifo(project.env_dir() / "models" / "pipe.yaml")
    os.symlink("gone.yaml", project.env_dir() / "models" / "dangling.yaml")

    source = read_environment(project.root, "corpus")

    assert [str(p) for p in source.problems] == [
        "environments/corpus/models/dangling.yaml: not a regular file",
        "environments/corpus/models/pipe.yaml: not a regular file",
    ]
    assert [m.address for m in source.models] == ["support-bot"]

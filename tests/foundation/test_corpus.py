"""The corpus: every bad input `validate` must refuse, and the edges it must accept.

Each case is a file under ``corpus/`` whose header says what it proves and
what `llmplan validate` must report (see ``corpus/README.md``).  One
parametrized test per direction builds a project in ``tmp_path``, runs the
CLI's real entry point with ``--format json`` and as text, and checks the
exit code, the exact file, line and JSON path, and the message.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.foundation.foundation_helpers import SANDBOX_ENVIRONMENT, VALID_MODEL, run_main

CORPUS = Path(__file__).with_name("corpus")
ENV = "corpus"
ENV_PREFIX = f"environments/{ENV}/"


@dataclass(frozen=True)
class Expectation:
    file: str | None  # relative to the environment folder; None: not about a file
    line: int | None
    path: str
    message: str


@dataclass
class Case:
    name: str
    kind: str  # "models", "environment" or "projects"
    source: Path
    why: str = ""
    env: str = ENV
    pad: int | None = None
    links: list[tuple[str, str]] = field(default_factory=list)
    mkdirs: list[str] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)

    @property
    def placed_as(self) -> str:
        """Where the case file lands, relative to the environment folder."""
        if self.kind == "models":
            return f"models/{self.source.name}"
        return "environment.yaml"


def _header_lines(path: Path) -> list[str]:
    lines = []
    for raw in path.read_bytes().decode("latin-1").splitlines():
        if not raw.startswith("# "):
            break
        lines.append(raw[2:])
    return lines


def parse_case(kind: str, source: Path) -> Case:
    header = source / "EXPECT" if source.is_dir() else source
    case = Case(source.stem if source.is_file() else source.name, kind, source)
    for line in _header_lines(header):
        key, _, value = line.partition(": ")
        if key == "why":
            case.why = value
        elif key == "env":
            case.env = value
        elif key == "pad":
            case.pad = int(value)
        elif key == "mkdir":
            case.mkdirs.append(value)
        elif key == "link":
            link, _, target = value.partition(" -> ")
            case.links.append((link, target))
        elif key == "expect":
            fields = dict(part.split("=", 1) for part in shlex.split(value))
            file = fields.get("file", case.placed_as if kind != "projects" else None)
            case.expectations.append(
                Expectation(
                    file=None if file == "none" else file,
                    line=None if fields.get("line", "none") == "none" else int(fields["line"]),
                    path="" if fields.get("path", "-") == "-" else fields["path"],
                    message=fields["message"],
                )
            )
    return case


def load_cases(direction: str) -> list[Case]:
    cases = []
    for kind in ("models", "environment", "projects"):
        folder = CORPUS / direction / kind
        if not folder.is_dir():
            continue
        for source in sorted(folder.iterdir()):
            if source.is_dir() or source.suffix in (".yaml", ".yml"):
                cases.append(parse_case(kind, source))
    return cases


BAD = load_cases("bad")
VALID = load_cases("valid")


def build_project(case: Case, root: Path) -> None:
    """Lay the case out as ``root/environments/corpus/``, as a user would have it."""
    env_dir = root / "environments" / ENV
    models = env_dir / "models"
    # Targets for the symlink cases: real files outside every environment.
    (root / "outside.yaml").write_text(VALID_MODEL, encoding="utf-8")
    (root / "outside-models").mkdir(parents=True)
    (root / "outside-models" / "stolen.yaml").write_text(VALID_MODEL, encoding="utf-8")
    if case.kind == "projects":
        shutil.copytree(case.source, env_dir, ignore=shutil.ignore_patterns("EXPECT"))
    else:
        models.mkdir(parents=True)
        if case.kind == "models":
            (env_dir / "environment.yaml").write_text(SANDBOX_ENVIRONMENT, encoding="utf-8")
        else:
            (models / "ok.yaml").write_text(VALID_MODEL, encoding="utf-8")
        target = env_dir / case.placed_as
        shutil.copyfile(case.source, target)
        if case.pad is not None:
            with open(target, "ab") as handle:
                while handle.tell() <= case.pad:
                    handle.write(b"# padding to make the file larger than the limit\n" * 1024)
    for folder in case.mkdirs:
        (env_dir / folder).mkdir(parents=True, exist_ok=True)
    for link, target in case.links:
        link_path = env_dir / link
        link_path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, link_path)


def test_the_corpus_is_large_and_every_case_says_why() -> None:
    assert len(BAD) >= 40, f"only {len(BAD)} bad inputs"
    assert all(case.why and case.expectations for case in BAD), [c.name for c in BAD if not (c.why and c.expectations)]
    assert all(case.why and not case.expectations for case in VALID), [c.name for c in VALID if not c.why]


@pytest.mark.parametrize("case", BAD, ids=[f"{c.kind}/{c.name}" for c in BAD])
def test_bad_input_is_refused_with_file_line_and_message(case: Case, tmp_path: Path, no_network: list[object]) -> None:
    build_project(case, tmp_path)

    as_json = run_main(["validate", "--env", case.env, "--root", str(tmp_path), "--format", "json"])
    as_text = run_main(["validate", "--env", case.env, "--root", str(tmp_path)])

    for run in (as_json, as_text):
        assert run.code == 1, f"{case.why}: exit {run.code}\n{run.stdout}{run.stderr}"
        assert "Traceback" not in run.stdout + run.stderr
    problems = json.loads(as_json.stdout)["problems"] if as_json.stdout.strip() else []
    for expected in case.expectations:
        if expected.file is None:  # not about a file: a plain error in text, one problem in JSON
            assert len(problems) == 1 and expected.message in problems[0]["message"]
            assert expected.message in as_text.stderr
            continue
        file = ENV_PREFIX + expected.file
        matching = [
            p for p in problems
            if p["file"] == file and p["line"] == expected.line and p["path"] == expected.path and expected.message in p["message"]
        ]
        assert matching, f"{case.why}\nexpected {file}:{expected.line} {expected.path!r} ~ {expected.message!r}\ngot {json.dumps(problems, indent=1)}"
        where = re.escape(file) if expected.line is None else re.escape(f"{file}:{expected.line}") + r"(:\d+)?"  # a column where it helps
        shown = re.compile(f"{where} {re.escape(expected.path)}: " if expected.path else f"{where}: ")
        assert any(shown.match(line.strip()) and expected.message in line for line in as_text.stderr.splitlines()), as_text.stderr


@pytest.mark.parametrize("case", VALID, ids=[f"{c.kind}/{c.name}" for c in VALID])
def test_valid_edge_passes(case: Case, tmp_path: Path, no_network: list[object]) -> None:
    build_project(case, tmp_path)

    run = run_main(["validate", "--env", ENV, "--root", str(tmp_path)])

    assert run.code == 0, f"{case.why}\n{run.stderr}"
    assert re.fullmatch(r"1 model valid in environment corpus\n", run.stdout), run.stdout

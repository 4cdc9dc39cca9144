"""Reading the CI workflows and the docs the way the tests check them.

The point is to check the `llmplan` command lines in workflow `run:` blocks
and doc code blocks with llmplan's own click parser, without running them:
expressions and shell variables are replaced by plausible values, line
continuations joined, redirections dropped, and each command found in
command position is handed to :func:`parse_cli`.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import click
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / "examples" / "ci" / "github-actions"
# the example workflows: records in Git, and the variant with records in PostgreSQL
# (plan.yml serves both)
NAMES = ("plan.yml", "apply.yml", "drift.yml", "postgres/apply.yml", "postgres/drift.yml", "postgres/migrate.yml")
DOCS = REPO / "docs"

# values a workflow would see at run time
EXPRESSION_VALUES = {"matrix.environment": "prod", "inputs.environment": "prod"}
VARIABLE_VALUES = {"ENV": "prod"}

# tokens after which a word is a command (bash's control words and operators)
_COMMAND_START = {";", "&&", "||", "|", "(", "!", "{", "if", "then", "do", "else", "elif", "while", "until", "time", "exec", "command"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_REDIRECTION = re.compile(r"""\d*(?:>>|>|<)&?\s*(?:"[^"]*"|'[^']*'|[^\s;|&()]+)""")
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_VARIABLE = re.compile(r"\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def load_workflow(path: Path) -> dict[str, Any]:
    """A workflow file as data; YAML 1.1 reads the key `on` as True, so it is put back."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path.name} is not a mapping"
    if True in document:
        document["on"] = document.pop(True)
    return document


def workflow(name: str) -> dict[str, Any]:
    """One of the example workflows (plan.yml, apply.yml, drift.yml) as data."""
    return load_workflow(WORKFLOWS / name)


def steps(workflow: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(job id, job, step) for every step of every job."""
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, job, step


def find_step(workflow: dict[str, Any], job_id: str, name_start: str) -> dict[str, Any]:
    found = [step for step in workflow["jobs"][job_id]["steps"] if str(step.get("name", "")).startswith(name_start)]
    assert len(found) == 1, f"expected one step of job {job_id} named {name_start!r}…, found {len(found)}"
    return found[0]


def _substitute(script: str) -> str:
    script = _EXPRESSION.sub(lambda m: EXPRESSION_VALUES.get(m.group(1), "value"), script)

    def variable(match: re.Match[str]) -> str:
        name = match.group(1) if match.group(1) is not None else match.group(2)
        return VARIABLE_VALUES.get(name, "value")

    return _VARIABLE.sub(variable, script)


def llmplan_commands(script: str) -> list[list[str]]:
    """The arguments of every `llmplan` command in a shell script, in order."""
    joined = re.sub(r"\\\n", " ", script)
    commands = []
    for line in joined.splitlines():
        text = _drop_redirections(_substitute(line))
        lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
        for index, token in enumerate(tokens):
            if token != "llmplan":
                continue
            before = tokens[index - 1] if index else None
            if before is not None and before not in _COMMAND_START and not _ASSIGNMENT.match(before):
                continue
            args = []
            for argument in tokens[index + 1 :]:
                if argument and all(char in "();<>|&" for char in argument):
                    break
                args.append(argument)
            commands.append(args)
    return commands


def _drop_redirections(line: str) -> str:
    """``line`` without ``> file``, ``2>&1``… outside quotes (a ``>`` inside quotes is text)."""
    kept = []
    quote = None
    position = 0
    while position < len(line):
        char = line[position]
        if quote is None and (position == 0 or line[position - 1].isspace()):
            match = _REDIRECTION.match(line, position)
            if match:
                kept.append(" ")
                position = match.end()
                continue
        if quote is None and char in "'\"":
            quote = char
        elif char == quote:
            quote = None
        kept.append(char)
        position += 1
    return "".join(kept)


def workflow_commands(workflow: dict[str, Any]) -> list[list[str]]:
    return [command for _, _, step in steps(workflow) if "run" in step for command in llmplan_commands(step["run"])]


def parse_cli(args: list[str]) -> click.Context:
    """Parse `llmplan ARGS` with the real CLI, through its groups, without running anything.

    Raises click's UsageError (unknown option, bad choice, missing
    required option, extra argument) exactly where the real command would.
    """
    from planner.cli import cli

    command: click.Command = cli
    context = command.make_context("llmplan", list(args), resilient_parsing=False)
    while isinstance(command, click.Group):
        # a group keeps its subcommand and the rest of the line unparsed
        protected = getattr(context, "_protected_args", None)
        if protected is None:  # click < 8.2
            protected = context.protected_args
        rest = [*protected, *context.args]
        if not rest:
            raise click.UsageError("missing command", context)
        name, sub, remaining = command.resolve_command(context, rest)
        assert sub is not None and name is not None
        context = sub.make_context(name, remaining, parent=context, resilient_parsing=False)
        command = sub
    return context


def command_path(context: click.Context) -> str:
    """'governance flush' for `llmplan governance flush …`."""
    return context.command_path.removeprefix("llmplan ").strip()



class Runner:
    """Runs one workflow step's script as GitHub Actions would (bash, the
    step's shell options), in a copy of the project whose dev environment
    uses the in-process sandbox gateway."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.summary = root.parent / "summary.md"
        self.summary.touch()
        self._outputs = root.parent / "outputs"
        self.environ = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "HOME": str(root.parent),
            "ENV": "dev",
            "NO_COLOR": "1",
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_REF_NAME": "main",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_REPOSITORY": "team/llm-config",
            "GITHUB_RUN_ID": "42",
        }

    def step(self, workflow_name: str, job_id: str, name: str, **env: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
        with self.start(workflow_name, job_id, name, **env) as running:
            stdout, stderr = running.communicate(timeout=120)
        return subprocess.CompletedProcess(running.args, running.returncode, stdout, stderr), self.outputs()

    def start(self, workflow_name: str, job_id: str, name: str, **env: str) -> subprocess.Popen[str]:
        """The step's script started, not waited for (its stdout and stderr are pipes); read outputs() when it ended."""
        step = find_step(workflow(workflow_name), job_id, name)
        script = self.root.parent / "step.sh"
        script.write_text(step["run"], encoding="utf-8")
        self._outputs.write_text("", encoding="utf-8")
        options = ["--noprofile", "--norc", "-eo", "pipefail"] if step.get("shell") == "bash" else ["-e"]
        return subprocess.Popen(
            ["bash", *options, str(script)],
            cwd=self.root,
            env={**self.environ, **env, "GITHUB_OUTPUT": str(self._outputs)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def outputs(self) -> dict[str, str]:
        """What the last step wrote to GITHUB_OUTPUT."""
        return dict(line.split("=", 1) for line in self._outputs.read_text(encoding="utf-8").splitlines() if "=" in line)

    def git(self, *args: str, cwd: Path | None = None) -> str:
        return subprocess.run(["git", *args], cwd=cwd or self.root, env=self.environ, check=True, capture_output=True, text=True).stdout


# --- markdown -------------------------------------------------------------

_FENCE = re.compile(r"^```([\w-]*)\s*\n(.*?)^```\s*$", re.DOTALL | re.MULTILINE)


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block."""
    return [(match.group(1), match.group(2)) for match in _FENCE.finditer(text)]


def section(text: str, heading: str) -> str:
    """The text under a heading, up to the next heading of the same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(heading)}\s*$", text, re.MULTILINE)
    assert match, f"no heading {heading!r}"
    level = len(match.group(1))
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def table_rows(text: str) -> list[list[str]]:
    """Cells of every markdown table row in ``text``, header and separator rows left out."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if all(set(cell) <= set("-: ") for cell in cells):
            continue
        rows.append(cells)
    return rows[1:] if rows else rows  # the first row is the header


def backticked(cell: str) -> str:
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match, f"expected a `code` cell, got {cell!r}"
    return match.group(1)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to dashes."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")

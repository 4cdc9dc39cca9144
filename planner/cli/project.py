"""fmt and version: the project's files in one layout, and what is installed."""

from __future__ import annotations

import json
from pathlib import Path

import click

from planner.cli.options import CONTEXT, Found, emit, environment_paths, format_option, paths_argument, root_option


@click.command(context_settings=CONTEXT)
@click.option("--env", "-e", "envs", multiple=True, metavar="ENV", help="Format only this environment (repeatable; default: all of them, or the PATHs given).")
@root_option
@click.option("--check", is_flag=True, help="Change nothing; list the files that are not formatted and exit 2 if there are any (for CI).")
@click.option("--diff", "show_diff", is_flag=True, help="Show the changes as a unified diff.")
@paths_argument
def fmt(envs: tuple[str, ...], root: Path, check: bool, show_diff: bool, paths: tuple[Path, ...]) -> Found:
    """Rewrite environment files in the canonical YAML layout, comments kept.

    Two-space indentation; model fields, temperatures and filter keys in the
    schema's order, each filter and the temperature matrix on one line; YAML
    1.1 booleans (yes, on, off, no) spelled true/false; text other YAML
    readers would misread quoted. A file is rewritten only if llmplan reads
    it back as the same data. Prints the files it changed (with --check, the
    ones it would change: exit 2 if any, 0 if none, 1 for a file it cannot
    read). PATHs (files or folders under environments/<env>/, as a pre-commit
    hook passes the changed files) limit it to those files.

    \b
    Examples:
      llmplan fmt
      llmplan fmt --check --diff
      llmplan fmt --check environments/prod/models/support-bot.yaml
    """
    from planner import yamlfmt
    from planner.errors import ConfigurationError
    from planner.loader import environment_directory, list_environments

    if not (root / "environments").is_dir():
        raise ConfigurationError(
            f"there is no {root.resolve() / 'environments'}/ folder to format",
            hint="run llmplan in the project folder (the one holding environments/) or any folder below it, or pass --root",
        )
    names = list(dict.fromkeys(envs)) or ([] if paths else list_environments(root))
    for name in names:
        environment_directory(root, name)  # an unknown name is an error naming the folder searched
    files = yamlfmt.environment_files(root.resolve(), names)
    if paths:
        files.extend(file for file in _files_at(root, paths) if file not in files)
    results = yamlfmt.format_files(root, files)
    changed = [result for result in results if result.changed]
    if not check:
        yamlfmt.write(changed)
    for result in changed:
        emit(result.display)
        if show_diff:
            emit(result.diff().rstrip("\n"))
    return Found.CHANGES if check and changed else Found.NOTHING


def _files_at(root: Path, paths: tuple[Path, ...]) -> list[tuple[Path, str]]:
    """The environment files (environment.yaml, models/*.yaml) that ``paths`` name or hold.

    A path naming any other file is an error, so that a hook never lets a
    file pass unchecked."""
    from planner import yamlfmt
    from planner.errors import ConfigurationError

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


@click.command(context_settings=CONTEXT)
@format_option("text", "json")
def version(output_format: str) -> None:
    """Show the version of llmplan, Python and the platform (also: llmplan --version).

    \b
    Example:
      llmplan version --format json
    """
    import platform

    from planner import __version__

    facts = {"llmplan_version": __version__, "python_version": platform.python_version(), "platform": f"{platform.system().lower()}_{platform.machine().lower()}"}
    if output_format == "json":
        emit(json.dumps(facts, indent=2))
    else:
        emit(f"llmplan v{__version__}\non {facts['platform']}, Python {facts['python_version']}")

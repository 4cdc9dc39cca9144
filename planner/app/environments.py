"""Loading an environment: its files read, validated offline, and built into typed data.

What every command does first (``validate`` does only this); every
problem is reported at once, with file, line and field, before any request
is sent.
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from planner.adapters.gateway.endpoints import GATEWAY_URL_VARIABLE, resolve_endpoint
from planner.adapters.git import changed_environments
from planner.adapters.project import environment_directory, list_environments, read_environment
from planner.core.environment import build_environment
from planner.core.validation import check_environment
from planner.model.errors import ConfigurationError, Problem, ValidationFailed
from planner.model.settings import Environment, EnvironmentSource


def load_environment(root: Path, name: str) -> Environment:
    """Read and validate an environment offline; every problem at once."""
    return build_environment(_valid_source(root, name))


def select_environments(root: Path, names: Sequence[str], every: bool, changed_from: str | None = None) -> list[str]:
    """The environments a command acts on: those named (each must exist, in the order given), or with ``every`` all of them;
    with ``changed_from`` (a Git ref) also those whose files differ from it, as a pull request touches them.

    ``changed_from`` alone may select none (a pull request that changes no environment): an empty list."""
    if every:
        found = list_environments(root)
        if not found:
            raise ConfigurationError(f"there are no environments in {root.resolve() / 'environments'}", hint="run llmplan in the project folder (the one holding environments/), or pass --root")
        return found
    if not names and changed_from is None:
        raise ConfigurationError("name the environments with --env (repeatable), or pass --all")
    for name in names:
        environment_directory(root, name)  # EnvironmentNotFound lists the available ones
    changed = changed_environments(root, changed_from, list_environments(root)) if changed_from is not None else []
    return list(dict.fromkeys([*names, *changed]))


def validate_environment(root: Path, name: str, environ: Mapping[str, str] | None = None) -> tuple[Environment, tuple[Problem, ...]]:
    """:func:`load_environment`, and its warnings: hidden model files, and a
    gateway that plan, apply and drift would refuse the credentials (judged
    offline, against this process's ``LLMPLAN_ALLOWED_GATEWAYS``)."""
    source = _valid_source(root, name)
    environment = build_environment(source)
    return environment, (*environment.warnings, *_gateway_warnings(environment, source, os.environ if environ is None else environ))


@dataclass(frozen=True)
class Validated:
    """One environment that passed validation: how many models, and what is worth a warning."""

    name: str
    models: int
    warnings: tuple[Problem, ...]


@dataclass(frozen=True)
class Validation:
    """Several environments checked: the valid ones, and one error listing every problem of every broken one."""

    valid: tuple[Validated, ...]
    failure: ValidationFailed | None
    failed: tuple[tuple[str, ValidationFailed], ...] = ()  # each broken environment's own error


def validate_environments(root: Path, names: Sequence[str], environ: Mapping[str, str] | None = None) -> Validation:
    """Every environment of ``names`` checked, each whatever became of the others."""
    valid: list[Validated] = []
    failed: dict[str, ValidationFailed] = {}
    for name in dict.fromkeys(names):
        try:
            environment, warnings = validate_environment(root, name, environ)
        except ValidationFailed as invalid:  # the other environments are still checked
            failed[name] = invalid
            continue
        valid.append(Validated(name, len(environment.models), warnings))
    if len(failed) > 1:
        everything = ValidationFailed([problem for invalid in failed.values() for problem in invalid.problems], what=f"environments {', '.join(failed)} are not valid")
        return Validation(tuple(valid), everything, tuple(failed.items()))
    return Validation(tuple(valid), next(iter(failed.values()), None), tuple(failed.items()))


def _valid_source(root: Path, name: str) -> EnvironmentSource:
    with collector_paused():
        source = read_environment(root, name)
        problems = check_environment(source)
    if problems:
        raise ValidationFailed(problems, what=f"environment {name} is not valid")
    return source


def _gateway_warnings(environment: Environment, source: EnvironmentSource, environ: Mapping[str, str]) -> list[Problem]:
    gateway = environment.gateway
    if not gateway.base_url or (environ.get(GATEWAY_URL_VARIABLE) or "").strip() or source.settings is None:
        return []  # a region, the sandbox, or an address set outside the repository: nothing to refuse
    try:
        resolve_endpoint(base_url=gateway.base_url, login_url=gateway.login_url, environ=environ)
    except ConfigurationError as refused:  # not allowed, or an LLMPLAN_ALLOWED_GATEWAYS that is not a list of hosts
        setting = getattr(refused, "setting", None) or "gateway.base_url"
        path = tuple(setting.split("."))
        return [Problem(source.settings.file, source.settings.line_of(path), setting, f"{refused.message}; plan, apply and drift will refuse it")]
    return []


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off for a block that builds many small containers
    (loading an environment, building a plan).

    Loading 10,000 model files makes hundreds of thousands of dicts, lists
    and tuples and no reference cycles, yet the collector, run every 700
    allocations, walks them again and again (about a tenth of the load).
    Cycles made meanwhile (a YAML alias that loops) are collected once it
    runs again.

    When the block made many containers (a large environment, its plan),
    they are frozen (``gc.freeze``) as the collector comes back: they live
    until the command ends, and the first collections after the block would
    otherwise walk every one of them again (80 ms after loading 10,000
    models, more for each later collection). Frozen objects are still freed
    when no longer referenced; only a reference cycle among them would wait
    for the process to end.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if gc.get_count()[0] > FREEZE_AFTER_ALLOCATIONS:
            gc.freeze()
        gc.enable()


# Containers allocated inside collector_paused above which they are frozen: a
# few hundred models; small loads (every test) leave the collector as it was.
FREEZE_AFTER_ALLOCATIONS = 50_000

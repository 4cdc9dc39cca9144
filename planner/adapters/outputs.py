"""Files a user names: saved plans to read and write, and reports and sites written with ``--out``.

A path that cannot be read or written is the user's error to fix, named
with the path, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Iterable

from planner import __version__
from planner.adapters.files import atomic_write_text
from planner.core.plan_file import dumps, loads
from planner.model.errors import ConfigurationError, PlanFileError
from planner.model.plan import Plan

PLAN_SUFFIX = ".plan.json"  # plan --out DIR: DIR/<env>.plan.json, one per environment
SITE_MANIFEST = "llmplan-report.json"  # the files the last report wrote there, so the next one removes only its own


def read_plan_file(path: Path) -> Plan:
    """A saved plan, checked against its checksum and schema."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanFileError(f"plan file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanFileError(f"cannot read plan file {path}: {exc}") from exc
    return loads(text, source=f"plan file {path}")


def write_plan_file(plan: Plan, path: Path) -> None:
    write_output_file(path, dumps(plan), what="plan file")


def plan_folder(out: Path) -> Path:
    """The folder ``plan --out DIR`` saves one plan per environment in, made if missing, before anything is planned."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigurationError(f"cannot save the plans in {out}: it is a file, not a folder", hint="with several environments, --out names a folder (made if missing): one plan per environment") from None
    except OSError as error:
        raise ConfigurationError(f"cannot save the plans in {out}: {error.strerror or error}", hint="pass --out a folder you may write to") from None
    return out


def saved_plans(paths: Iterable[Path]) -> list[Path]:
    """The plan files named, a folder standing for the plans ``plan --out DIR`` saved in it (``*.plan.json``)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(path.glob(f"*{PLAN_SUFFIX}"))
            if not inside:
                raise PlanFileError(f"{path} holds no saved plan (*{PLAN_SUFFIX})", hint="save plans there with `llmplan plan --all --out DIR`, or name a plan file")
            found.extend(inside)
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def write_output_file(path: Path, text: str, *, what: str) -> None:
    """Write what the user asked for with ``--out``, whole or not at all."""
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise ConfigurationError(f"cannot write the {what} {path}: {exc.strerror or exc}", hint="pass --out a path in a writable folder") from exc


def prepare_site_folder(out: Path) -> None:
    """The folder a site (``llmplan report``) goes to, made and proved writable before anything is gathered."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".{SITE_MANIFEST}.probe"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except FileExistsError:
        raise ConfigurationError(f"cannot write the report to {out}: it is a file, not a folder", hint="pass --out a folder (it is made if missing)") from None
    except OSError as error:
        raise ConfigurationError(f"cannot write the report to {out}: {error.strerror or error}", hint="pass --out a folder you may write to") from None


def write_site(out: Path, files: Iterable[tuple[str, str]]) -> int:
    """Write the site's files (relative path, text) under ``out``; files an earlier report wrote
    there and this one does not (a model gone) are removed, nothing else. Returns how many were written."""
    manifest = out / SITE_MANIFEST
    try:
        earlier = set(json.loads(manifest.read_text(encoding="utf-8")).get("files", ()))
    except (OSError, ValueError, AttributeError):
        earlier = set()
    written: list[str] = []
    try:
        for relative, text in files:
            path = out / _inside(relative)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(relative)
        for stale in earlier - set(written):
            if isinstance(stale, str) and _is_inside(stale):
                (out / stale).unlink(missing_ok=True)
        manifest.write_text(json.dumps({"generator": f"llmplan {__version__} report", "files": sorted(written)}, indent=1) + "\n", encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(f"cannot write the report to {out}: {error.strerror or error}", hint="pass --out a folder you may write to") from None
    return len(written)


def _is_inside(relative: str) -> bool:
    parts = PurePosixPath(relative).parts
    return bool(parts) and not PurePosixPath(relative).is_absolute() and ".." not in parts


def _inside(relative: str) -> str:
    if not _is_inside(relative):
        raise ValueError(f"not a path inside the report: {relative!r}")
    return relative

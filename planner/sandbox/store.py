"""The sandbox's models and configurations: versions, validation, persistence.

All reads and writes go through one lock, so a PUT is all or nothing even
under concurrent writers: it is validated and compared with the stored
version, then swapped in as a new dict (stored configurations are never
mutated, which lets readers serialize them without the lock).

With a data file the store survives restarts.  Every change is written to a
temporary file, fsynced and renamed over the old one, so a reader or a crash
never sees half a file; concurrent changes share one write (group commit).
The file has the shape of the ``POST /__sandbox/models`` body and is
validated by the same rules.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from planner.model.configuration import FIELDS, READ_ONLY_FIELDS, Capabilities, with_defaults
from planner.model.source import JsonPath
from planner.sandbox import openapi
from planner.sandbox.answers import ApiError, FieldProblem, problems_message
from planner.sandbox.errors import SandboxDataError
from planner.sandbox.rules import (
    Finding,
    configuration_findings,
    configuration_validator,
    duplicate_filters,
    field_problems,
    is_rfc3339,
    model_findings,
    schema_findings,
)

DATA_FORMAT = "llmplan-sandbox-store"
DATA_FORMAT_VERSION = 1
MODELS_PATH = "/api/v2/ai/models"


def utc_timestamp() -> str:
    """Now as the gateway writes it: ``2026-11-24T10:00:00.000Z``."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _spec_findings(specs: Any) -> list[Finding]:
    """``POST /__sandbox/models`` (and a data file's ``models``) against the
    OpenAPI document's ``ModelSpecs``; then each configuration against the
    model configuration schema, which the document's copy must equal."""
    found = schema_findings(openapi.validator("ModelSpecs"), specs)
    if found:
        return found
    for index, spec in enumerate(specs["models"]):
        config = spec.get("configuration")
        if config is None:
            continue
        prefix: JsonPath = ("models", index, "configuration")
        modified = config.get("modifiedDate")
        if modified is not None and not is_rfc3339(modified):
            found.append(Finding(prefix + ("modifiedDate",), f"{json.dumps(modified)[:60]} is not an RFC 3339 date-time"))
        candidate = with_defaults({"model_id": spec["id"], **config})
        found.extend(finding.under(prefix) for finding in schema_findings(configuration_validator(), candidate))
    return found


def _spec_conflicts(specs: Mapping[str, Any]) -> list[Finding]:
    """Schema-valid seeds whose configuration does not fit its model (409)."""
    found: list[Finding] = []
    for index, spec in enumerate(specs["models"]):
        config = spec.get("configuration")
        if config is None:
            continue
        candidate = with_defaults({"model_id": spec["id"], **config})
        capabilities = Capabilities.from_api(spec["capabilities"])
        rules = duplicate_filters(candidate) + model_findings(candidate, spec["id"], capabilities)
        found.extend(finding.under(("models", index, "configuration")) for finding in rules)
    return found


@dataclass(frozen=True)
class Model:
    """A model the gateway serves: id, display name, what it can do."""

    id: str
    name: str
    capabilities: Capabilities

    @property
    def self_uri(self) -> str:
        return f"{MODELS_PATH}/{self.id}"

    def to_api(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "capabilities": self.capabilities.to_api(), "selfUri": self.self_uri}


class ModelStore:
    """Models and their current configurations, safe for concurrent use."""

    def __init__(self, data_file: Path | None = None, now: Callable[[], str] = utc_timestamp) -> None:
        self._data_file = data_file
        self._now = now
        self._lock = threading.RLock()
        self._models: dict[str, Model] = {}
        self._configs: dict[str, dict[str, Any]] = {}
        self._persist_lock = threading.Lock()
        self._generation = 0
        self._written_generation = 0

    # --- start-up ----------------------------------------------------------

    def open(self, seeds: Iterable[Mapping[str, Any]]) -> None:
        """Load the data file (if any), add the seed models it lacks, save.

        The file is the truth for every model it holds; seeds (the demo
        catalog, generated models) only fill in models it does not have.
        """
        stored: list[dict[str, Any]] = []
        existed = False
        if self._data_file is not None and self._data_file.exists():
            stored = self._read_data_file(self._data_file)
            existed = True
        with self._lock:
            for spec in stored:
                self._install(spec)
            added = 0
            for seed in seeds:
                if seed["id"].lower() not in self._models:
                    self._install(dict(seed))
                    added += 1
            self._generation += 1
        if self._data_file is not None and (added or not existed):
            try:
                self._persist()
            except OSError as error:
                raise SandboxDataError(f"cannot write the sandbox data file {self._data_file}: {error.strerror or error}") from error

    def _read_data_file(self, path: Path) -> list[dict[str, Any]]:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise SandboxDataError(f"cannot read the sandbox data file {path}: {error}") from error
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except ValueError as error:
            raise SandboxDataError(f"sandbox data file {path} is not valid JSON: {error}") from error
        if not isinstance(data, dict) or data.get("format") != DATA_FORMAT:
            raise SandboxDataError(f"{path} is not a sandbox data file (expected \"format\": \"{DATA_FORMAT}\")")
        if data.get("format_version") != DATA_FORMAT_VERSION:
            raise SandboxDataError(
                f"sandbox data file {path} has format_version {data.get('format_version')!r}; this llmplan reads version {DATA_FORMAT_VERSION}"
            )
        body: dict[str, Any] = {"models": data.get("models")}
        findings = _spec_findings(body) or _spec_conflicts(body)
        if findings:
            listing = "; ".join(f"{f.field}: {f.message}" for f in findings[:10])
            more = f" (and {len(findings) - 10} more)" if len(findings) > 10 else ""
            raise SandboxDataError(f"sandbox data file {path} is not valid: {listing}{more}")
        models: list[dict[str, Any]] = body["models"]
        return models

    # --- reads ----------------------------------------------------------------

    def count(self) -> int:
        with self._lock:
            return len(self._models)

    def page(self, start: int, size: int) -> tuple[list[tuple[Model, dict[str, Any] | None]], int]:
        """Models ``start`` … ``start + size`` in catalog order, and the total."""
        with self._lock:
            total = len(self._models)
            if start >= total:
                return [], total
            keys = list(self._models)[start : start + size]
            return [(self._models[key], self._configs.get(key)) for key in keys], total

    def model(self, model_id: str) -> Model:
        with self._lock:
            model = self._models.get(model_id.lower())
        if model is None:
            raise ApiError(404, f"model {model_id} not found")
        return model

    def configuration(self, model_id: str) -> dict[str, Any]:
        key = model_id.lower()
        with self._lock:
            model = self._models.get(key)
            config = self._configs.get(key)
        if model is None:
            raise ApiError(404, f"model {model_id} not found")
        if config is None:
            raise ApiError(404, f"model {model_id} has no configuration yet")
        return config

    # --- writes -----------------------------------------------------------------

    def put_configuration(self, model_id: str, body: Any) -> dict[str, Any]:
        """Replace a configuration atomically; 400, 404 or 409 change nothing.

        ``version`` guards the change: it must equal the stored version, and
        0 means "only if never configured" (a first configuration gets 1).
        """
        model = self.model(model_id)
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object (a model configuration)")
        problems: list[FieldProblem] = []
        expected = body.get("version")
        if expected is not None and (not isinstance(expected, int) or isinstance(expected, bool) or expected < 0):
            problems.append(FieldProblem("version", f"{json.dumps(expected)} is not a version number (a non-negative integer)"))
        config = with_defaults(body)
        problems.extend(field_problems(configuration_findings(config) + model_findings(config, model.id, model.capabilities)))
        if problems:
            raise ApiError(400, problems_message("the configuration is not valid", problems), problems)
        with self._lock:
            model = self.model(model_id)  # may have been replaced meanwhile
            key = model.id.lower()
            current = self._configs.get(key)
            current_version = current["version"] if current else 0
            if expected is not None and expected != current_version:
                if expected == 0:
                    message = f"version 0 asks for a first configuration, but model {model.id} is configured (current version {current_version})"
                else:
                    message = f"version {expected} does not match the current version {current_version} of the configuration of model {model.id}"
                raise ApiError(409, message, extra={"messageParams": {"expected": str(expected), "current": str(current_version)}})
            stored = self._stored(model, config, current_version + 1, self._now())
            self._configs[key] = stored
            self._generation += 1
        self._persist()
        return stored

    def patch_configuration(self, model_id: str, changes: Any) -> dict[str, Any]:
        """Merge a partial change into the configuration (a console edit → drift).

        400 when ``changes`` breaks the document's ``ConfigurationPatch``;
        409 when it is well formed but the merged configuration would not be
        valid for this model (over its capabilities, or a first configuration
        missing fields); nothing changes either way.
        """
        self.model(model_id)  # 404 before complaining about the body, as a PUT does
        findings = schema_findings(openapi.validator("ConfigurationPatch"), changes)
        if findings:
            problems = field_problems(findings)
            raise ApiError(400, problems_message("the change is not valid", problems), problems)
        with self._lock:
            model = self.model(model_id)
            key = model.id.lower()
            current = self._configs.get(key)
            merged: dict[str, Any] = {k: v for k, v in (current or {"model_id": model.id}).items() if k not in READ_ONLY_FIELDS}
            for field_name, value in changes.items():
                if field_name in READ_ONLY_FIELDS:
                    continue
                if isinstance(value, dict) and isinstance(merged.get(field_name), dict):
                    merged[field_name] = {**merged[field_name], **value}
                else:
                    merged[field_name] = value
            config = with_defaults(merged)
            findings = configuration_findings(config) + model_findings(config, model.id, model.capabilities)
            if findings:
                problems = field_problems(findings)
                what = "the changed configuration would not be valid" if current else f"model {model.id} has no configuration yet; a first one needs every field"
                raise ApiError(409, problems_message(what, problems), problems)
            stored = self._stored(model, config, (current["version"] if current else 0) + 1, self._now())
            self._configs[key] = stored
            self._generation += 1
        self._persist()
        return stored

    def upsert_models(self, body: Any) -> list[dict[str, Any]]:
        """Add or replace models (all or none); a model's configuration is kept
        unless the spec has a ``configuration`` key (``null`` removes it).

        400 when the body breaks the document's ``ModelSpecs``; 409 when a
        configuration is well formed but does not fit its model.
        """
        findings = _spec_findings(body)
        if findings:
            problems = field_problems(findings)
            raise ApiError(400, problems_message("the models are not valid", problems), problems)
        conflicts = _spec_conflicts(body)
        if conflicts:
            problems = field_problems(conflicts)
            raise ApiError(409, problems_message("a configuration does not fit its model", problems), problems)
        with self._lock:
            installed = [self._install(spec) for spec in body["models"]]
            self._generation += 1
            result = [self._entity(model, expand=True) for model in installed]
        self._persist()
        return result

    def delete_model(self, model_id: str) -> None:
        with self._lock:
            model = self.model(model_id)
            del self._models[model.id.lower()]
            self._configs.pop(model.id.lower(), None)
            self._generation += 1
        self._persist()

    # --- helpers ----------------------------------------------------------------

    def _install(self, spec: Mapping[str, Any]) -> Model:
        """Put one (validated) model spec in the store; caller holds the lock."""
        model = Model(spec["id"].lower(), spec["name"], Capabilities.from_api(spec["capabilities"]))
        key = model.id
        previous = self._configs.get(key)
        self._models[key] = model
        if "configuration" in spec:
            config = spec["configuration"]
            if config is None:
                self._configs.pop(key, None)
            else:
                version = config.get("version") or ((previous["version"] + 1) if previous else 1)
                fields = with_defaults({"model_id": model.id, **config})
                self._configs[key] = self._stored(model, fields, version, config.get("modifiedDate") or self._now())
        return model

    @staticmethod
    def _stored(model: Model, config: Mapping[str, Any], version: int, modified: str) -> dict[str, Any]:
        stored = {name: config[name] for name in FIELDS if name in config}
        stored["model_id"] = model.id
        stored["version"] = version
        stored["modifiedDate"] = modified
        stored["selfUri"] = f"{model.self_uri}/configuration"
        return {name: stored[name] for name in (*FIELDS, *READ_ONLY_FIELDS) if name in stored}

    def entity(self, model: Model, config: dict[str, Any] | None, expand: bool) -> dict[str, Any]:
        result = model.to_api()
        if expand and config is not None:
            result["configuration"] = config
        return result

    def _entity(self, model: Model, expand: bool) -> dict[str, Any]:
        return self.entity(model, self._configs.get(model.id.lower()), expand)

    # --- persistence ------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        with self._lock:
            models = []
            for key, model in self._models.items():
                spec: dict[str, Any] = {"id": model.id, "name": model.name, "capabilities": model.capabilities.to_api()}
                config = self._configs.get(key)
                if config is not None:
                    spec["configuration"] = {k: v for k, v in config.items() if k != "selfUri"}
                models.append(spec)
        return {"format": DATA_FORMAT, "format_version": DATA_FORMAT_VERSION, "models": models}

    def _persist(self) -> None:
        """Make every change so far durable; one write covers concurrent changes."""
        if self._data_file is None:
            return
        with self._lock:
            wanted = self._generation
        with self._persist_lock:
            if self._written_generation >= wanted:
                return
            with self._lock:
                generation = self._generation
                data = self.export()
            _write_whole(self._data_file, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
            self._written_generation = generation


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _write_whole(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (a temp file renamed over it): a reader never sees half a store.

    The sandbox is a test double, so no fsync: a power cut may lose its
    last changes, never tear the file. (llmplan's own records are written
    by planner.adapters.files, which the sandbox does not share.)
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise

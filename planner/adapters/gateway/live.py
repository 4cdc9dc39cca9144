"""Fetching what the gateway has now, for many models at once.

Two ways, chosen by size: a handful of models are fetched one by one in
parallel (two GETs each, one round trip of wall time); a larger set is read
from the paged model list with ``expand=configuration`` (one request per 100
models), which is far cheaper than 2 × N requests.  Decides nothing about
what changes.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Callable, Collection, Mapping

from planner.adapters.gateway.client import GatewayClient, GatewayModel
from planner.model.configuration import Capabilities
from planner.model.errors import NotFound

# Per-model fetching costs 2 requests per model; the list costs 1 per 100
# models of the whole gateway.  Below this many models, per-model GETs in
# parallel finish in about one round trip and read nothing unneeded.
LIST_THRESHOLD = 20


@dataclass(frozen=True)
class LiveSnapshot:
    """Live configurations and capabilities, keyed by lower-case model id.

    ``configurations[id]`` is None for a model that was never configured;
    ``unknown`` holds requested ids the gateway does not know at all.
    """

    configurations: Mapping[str, Mapping[str, Any] | None]
    capabilities: Mapping[str, Capabilities]
    names: Mapping[str, str]
    unknown: frozenset[str] = field(default_factory=frozenset)
    method: str = "per-model"


def _snapshot(models: list[GatewayModel], unknown: set[str], method: str) -> LiveSnapshot:
    return LiveSnapshot(
        configurations={m.id.lower(): m.configuration for m in models},
        capabilities={m.id.lower(): m.capabilities for m in models},
        names={m.id.lower(): m.name for m in models},
        unknown=frozenset(unknown),
        method=method,
    )


def fetch_all(client: GatewayClient) -> LiveSnapshot:
    """Every model of the gateway with its configuration (paged list)."""
    return _snapshot(client.list_models(expand_configuration=True), set(), "list")


def fetch_live(client: GatewayClient, model_ids: Collection[str], *, parallelism: int) -> LiveSnapshot:
    """The live state of ``model_ids``, by whichever way costs fewer requests."""
    wanted = {model_id.lower() for model_id in model_ids}
    if not wanted:
        return LiveSnapshot({}, {}, {})
    if len(wanted) >= LIST_THRESHOLD:
        listed = [m for m in client.list_models(expand_configuration=True) if m.id.lower() in wanted]
        return _snapshot(listed, wanted - {m.id.lower() for m in listed}, "list")

    ordered = sorted(wanted)
    workers = max(1, min(parallelism, 2 * len(ordered)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llmplan-fetch") as pool:
        # both GETs of every model at once: one round trip of wall time, not two
        models = {model_id: pool.submit(_get_or_none, client.get_model, model_id) for model_id in ordered}
        # a 404 here means "never configured" or "no such model"; the model GET beside it tells which
        configurations = {model_id: pool.submit(_get_or_none, partial(client.get_configuration, model_known=True), model_id) for model_id in ordered}
        found = [
            replace(model, configuration=configurations[model_id].result())
            for model_id in ordered
            if (model := models[model_id].result()) is not None
        ]
    return _snapshot(found, wanted - {m.id.lower() for m in found}, "per-model")


def _get_or_none(call: Callable[[str], Any], model_id: str) -> Any:
    try:
        return call(model_id)
    except NotFound:
        return None

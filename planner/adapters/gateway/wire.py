"""What crosses the wire, as data: timeouts, the gateway's models, model ids, the auth header.

Pure helpers of :mod:`planner.adapters.gateway.client`, kept apart so the client
module holds only the request loop and the typed calls.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from planner.model.configuration import Capabilities
from planner.model.errors import GatewayError, InvalidModelId

MODELS_PATH = "/api/v2/ai/models"
UUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DEFAULT_DEADLINE_SECONDS = 30.0
CONNECT_DEADLINE_SECONDS = 5.0


@dataclass(frozen=True)
class Timeouts:
    """How long llmplan waits for the gateway.

    ``attempt`` bounds one attempt as a whole: resolving the name,
    connecting (at most ``connect`` of it), sending, and the complete answer,
    headers and body; a gateway that trickles its answer is cut off at the
    end, not only one that falls silent (:mod:`planner.adapters.gateway.deadline`).
    ``deadline`` bounds how long one request keeps trying to reach a
    gateway that does not answer: attempts that get no answer (connection
    failures, timeouts, answers cut off) are retried only until
    ``deadline`` seconds have passed since the first of them, and each
    attempt gets at most what is left.  Before the gateway has answered
    anything, a connection that fails outright (refused, a name that does
    not resolve, a connect timeout) is retried for at most
    ``min(deadline, 5 s)``, and once that is spent every further request
    of the client fails at once: a wrong address or a gateway that is down
    fails fast.  ``gateway.timeout_seconds`` and ``--gateway-timeout`` set
    ``deadline``.
    """

    connect: float = 5.0
    attempt: float = 15.0
    deadline: float = DEFAULT_DEADLINE_SECONDS

    def __post_init__(self) -> None:
        if min(self.connect, self.attempt, self.deadline) <= 0:
            raise ValueError("timeouts must be > 0")

    @property
    def connect_deadline(self) -> float:
        return min(self.deadline, CONNECT_DEADLINE_SECONDS)


@dataclass(frozen=True)
class GatewayModel:
    """A model as the gateway describes it.

    ``configuration`` is the JSON object as returned (with ``version``,
    ``modifiedDate``, ``selfUri``), or None when the model was never
    configured or the call did not ask for it.
    """

    id: str
    name: str
    capabilities: Capabilities
    configuration: dict[str, Any] | None


@dataclass(frozen=True)
class Applied:
    """A configuration PUT that landed: the configuration as the gateway has it now.

    ``read_back``: the answer was lost (or a resend met its own first
    attempt as a 409) and the outcome was decided by reading the
    configuration back (:mod:`planner.adapters.gateway.outcomes`).
    """

    configuration: dict[str, Any]
    read_back: bool = False
    resends: int = 0


@dataclass(frozen=True)
class ClientStats:
    """Counters since the client was made: what was sent, what came back, how long we waited."""

    attempts: int
    statuses: Mapping[int, int]
    transport_errors: int
    retries: int
    token_fetches: int
    retry_wait_seconds: float
    pacing_wait_seconds: float
    read_backs: int = 0


def check_model_id(model_id: str) -> str:
    """``model_id`` if it is a UUID in its usual 8-4-4-4-12 form; nothing else may enter a URL."""
    if not isinstance(model_id, str) or not UUID_PATTERN.match(model_id):
        shown = repr(model_id) if len(repr(model_id)) <= 60 else repr(model_id)[:57] + "..."
        raise InvalidModelId(f"model id {shown} is not a UUID")
    return model_id.lower()


class BearerAuth(requests.auth.AuthBase):
    """Sets the bearer token; as an auth object it also keeps requests from applying ~/.netrc."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(***)"


def redacted(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers fit for a log: the Authorization value reduced to its scheme."""
    shown = {}
    for name, value in headers.items():
        if name.lower() == "authorization":
            scheme = value.split(" ", 1)[0] if value else ""
            shown[name] = f"{scheme} ***"
        else:
            shown[name] = value
    return shown


def decoded(response: requests.Response) -> Any:
    """The JSON body, or None when there is none or it is not JSON."""
    try:
        return json.loads(response.content) if response.content else None
    except ValueError:
        return None


def model_from_api(entity: Any, *, with_configuration: bool, url: str) -> GatewayModel:
    try:
        configuration = entity.get("configuration") if with_configuration else None
        return GatewayModel(
            id=str(entity["id"]),
            name=str(entity.get("name") or ""),
            capabilities=Capabilities.from_api(entity["capabilities"]),
            configuration=dict(configuration) if isinstance(configuration, Mapping) else None,
        )
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise GatewayError(f"the gateway answered a model the client cannot read ({type(error).__name__}: {error})", method="GET", url=url) from None


def page_models(page: Mapping[str, Any], url: str, expand_configuration: bool) -> list[GatewayModel]:
    entities = page.get("entities")
    if not isinstance(entities, list):
        raise GatewayError(f"GET {MODELS_PATH} answered a page without entities", method="GET", url=url)
    return [model_from_api(entity, with_configuration=expand_configuration, url=url) for entity in entities]


def next_page_url(api_url: str, next_uri: Any, expand_configuration: bool) -> str:
    """``nextUri`` made absolute; it must stay on the API's origin (the token goes with it)."""
    api = urlsplit(api_url)
    parts = urlsplit(str(next_uri))
    if (parts.scheme or parts.netloc) and (parts.scheme, parts.netloc) != (api.scheme, api.netloc):
        raise GatewayError(f"the gateway's nextUri points at another host ({parts.netloc}); not following it", method="GET", url=api_url)
    if not parts.path.endswith(MODELS_PATH):
        raise GatewayError(f"the gateway's nextUri {parts.path} is not a models page", method="GET", url=api_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if expand_configuration and ("expand", "configuration") not in query:
        query.append(("expand", "configuration"))
    return urlunsplit((api.scheme, api.netloc, parts.path, urlencode(query), ""))

"""Requests as the sandbox reads them: the request, the route table, and
the parsing every endpoint shares (JSON bodies, queries, ids, credentials).

No endpoint logic lives here; :mod:`planner.sandbox.app` and
:mod:`planner.sandbox.admin` answer, and :mod:`planner.sandbox.server`
moves the bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl, unquote

from planner.sandbox.answers import ApiError, FieldProblem
from planner.sandbox.tokens import SCOPE_MANAGE, SCOPE_READ

WEBHOOK_PATH = "/__sandbox/webhook"
FAULTS_PATH = "/__sandbox/faults"

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DIGITS = re.compile(r"^[0-9]{1,10}$")


@dataclass(frozen=True)
class Request:
    """One HTTP request as the handler read it; ``body_error`` is set when
    the body could not be read (too large, bad length…)."""

    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    client_host: str = "127.0.0.1"
    body_error: ApiError | None = None
    unparsable: bool = False  # http.server rejected it; answer body_error as is

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def media_type(self) -> str:
        value = self.header("Content-Type") or ""
        return value.split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    methods: Mapping[str, tuple[str | None, str]]  # method -> (scope, endpoint name)

    @property
    def allow(self) -> str:
        """The ``Allow`` header of this path: exactly the methods it serves."""
        return ", ".join(sorted(self.methods))


def _route(pattern: str, **methods: tuple[str | None, str]) -> Route:
    return Route(re.compile(f"^{pattern}$"), methods)


_SEGMENT = "(?P<model_id>[^/]+)"
API_ROUTES = (
    _route("/api/v2/ai/models", GET=(SCOPE_READ, "list_models")),
    _route(f"/api/v2/ai/models/{_SEGMENT}", GET=(SCOPE_READ, "get_model")),
    _route(
        f"/api/v2/ai/models/{_SEGMENT}/configuration",
        GET=(SCOPE_READ, "get_configuration"),
        PUT=(SCOPE_MANAGE, "put_configuration"),
    ),
)
# No token, no rate limit.
PUBLIC_ROUTES = (
    _route("/oauth/token", POST=(None, "token")),
    _route("/api/v2/docs/openapi.json", GET=(None, "openapi")),
)
ADMIN_ROUTES = (
    _route("/__sandbox/health", GET=(None, "health")),
    _route(FAULTS_PATH, GET=(None, "get_faults"), POST=(None, "set_faults"), DELETE=(None, "reset_faults")),
    _route("/__sandbox/models", POST=(None, "upsert_models")),
    _route(f"/__sandbox/models/{_SEGMENT}", DELETE=(None, "delete_model")),
    _route(f"/__sandbox/models/{_SEGMENT}/configuration", PATCH=(None, "patch_configuration")),
    _route("/__sandbox/requests", GET=(None, "get_requests"), DELETE=(None, "clear_requests")),
    _route(WEBHOOK_PATH, GET=(None, "get_webhook"), POST=(None, "receive_webhook"), DELETE=(None, "clear_webhook")),
    _route("/__sandbox/tokens", DELETE=(None, "revoke_tokens")),
)
ALL_ROUTES = API_ROUTES + PUBLIC_ROUTES + ADMIN_ROUTES


def not_allowed(method: str, path: str, route: Route) -> ApiError:
    """405 naming the methods the path serves, in ``Allow`` as RFC 9110 requires."""
    return ApiError(405, f"{method} is not allowed on {short(path)} (allowed: {route.allow})", headers=(("Allow", route.allow),))


def route_of(path: str, routes: Iterable[Route] = ALL_ROUTES) -> Route | None:
    return next((route for route in routes if route.pattern.match(path)), None)


def match(routes: Iterable[Route], method: str, path: str) -> tuple[tuple[str | None, str], dict[str, str]]:
    """The (scope, endpoint) for a request, or 404 / 405 (with ``Allow``)."""
    lookup = "GET" if method == "HEAD" else method
    for route in routes:
        found = route.pattern.match(path)
        if found is None:
            continue
        if lookup not in route.methods:
            raise not_allowed(method, path, route)
        params = {key: unquote(value) for key, value in found.groupdict().items()}
        return route.methods[lookup], params
    raise ApiError(404, f"no such endpoint: {method} {short(path)}")


def short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def is_loopback(host: str) -> bool:
    try:
        address = ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


def reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes) -> Any:
    """The JSON of a request body, or 400 saying what is wrong with it."""
    if not body.strip():
        raise ApiError(400, "the request body is empty; expected a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(400, f"the request body is not UTF-8 text: {error.reason} at byte {error.start}") from None
    try:
        data = json.loads(text, parse_constant=reject_constant)
    except RecursionError:
        raise ApiError(400, "the request body is nested too deeply") from None
    except ValueError as error:
        raise ApiError(400, f"the request body is not valid JSON: {error}") from None
    try:  # a lone surrogate (\ud800) decodes but is no Unicode text: it could never be answered back
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "the request body holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not Unicode text") from None
    return data


def json_body(request: Request) -> Any:
    media_type = request.media_type()
    if media_type != "application/json" and not (media_type.startswith("application/") and media_type.endswith("+json")):
        shown = media_type or "none"
        raise ApiError(415, f"the request body must be application/json (Content-Type was {short(shown, 60)})")
    return parse_json(request.body)


def query(request: Request) -> dict[str, str]:
    try:
        return dict(parse_qsl(request.query, keep_blank_values=True, max_num_fields=50, errors="strict"))
    except ValueError as error:
        raise ApiError(400, f"the query string is not valid: {error}") from None


def int_param(values: Mapping[str, str], name: str, default: int, minimum: int, maximum: int, problems: list[FieldProblem]) -> int:
    raw = values.get(name)
    if raw is None:
        return default
    if not _DIGITS.match(raw) or not minimum <= int(raw) <= maximum:
        problems.append(FieldProblem(name, f"{short(raw, 40)!r} is not a whole number from {minimum} to {maximum}"))
        return default
    return int(raw)


def model_id(params: Mapping[str, str]) -> str:
    value = params["model_id"]
    if not _UUID.match(value):
        raise ApiError(404, f"model {short(value, 60)!r} not found: model ids are UUIDs (8-4-4-4-12 hexadecimal digits)")
    return value


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ("", "")
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


@dataclass
class Context:
    """What the pipeline learns about a request on the way (for headers and the log)."""

    correlation_id: str
    client_id: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0
    body_delay: float = 0.0
    answer: str = "sent"  # or dropped, lost, delayed: what a fault does to the answer

"""The sandbox's endpoints: one request in, one :class:`Response` out.

This is everything the gateway does, without sockets: faults, OAuth, rate
limits, the models API, the OpenAPI document and the ``/__sandbox/``
admin endpoints.  ``server.py`` only reads bytes into a :class:`Request` and
writes the answer back.

Order of checks on the API (``/api/v2/…`` except the docs), as a gateway
does it: injected faults, then the client's rate-limit window, then the
token (401), then the body (413…), the route (404/405), the scope (403), and
the endpoint itself.  Every API answer carries ``inin-ratelimit-*``, as the
contract says; an answer injected by a fault rule carries the client's
window as it stands but is not counted in it, so a test's injected 429s and
503s neither spend the budget nor hide it (a client reading the headers can
tell an injected 429, count under budget, from a spent budget).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from ipaddress import ip_address
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import parse_qsl, unquote

from planner import schemas
from planner.sandbox.answers import ApiError, FieldProblem, Response, dumps, error_response, json_response, problems_message
from planner.sandbox.faults import FaultInjector, FaultSettings, InvalidFaults, RateLimiter
from planner.sandbox.store import ModelStore, utc_timestamp
from planner.sandbox.tokens import SCOPE_MANAGE, SCOPE_READ, TokenIssuer
from planner.sandbox.webhook import WebhookVerifier

logger = logging.getLogger("llmplan.sandbox")

MAX_BODY_BYTES = 1024 * 1024
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_NUMBER = 999_999_999
REQUEST_LOG_SIZE = 10_000
WEBHOOK_LOG_SIZE = 1_000
OPENAPI_FILE = "gateway-openapi.yaml"
WEBHOOK_PATH = "/__sandbox/webhook"
FAULTS_PATH = "/__sandbox/faults"
ANONYMOUS_CLIENT = "(anonymous)"

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_CORRELATION = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
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


@dataclass
class _Context:
    """What the pipeline learns about a request on the way (for headers and the log)."""

    correlation_id: str
    client_id: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0
    body_delay: float = 0.0


class _Journal:
    """A bounded, thread-safe list of recent entries (request log, webhook deliveries)."""

    def __init__(self, size: int) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> int:
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
        return count


@dataclass(frozen=True)
class _Route:
    pattern: re.Pattern[str]
    methods: Mapping[str, tuple[str | None, str]]  # method -> (scope, endpoint name)


def _route(pattern: str, **methods: tuple[str | None, str]) -> _Route:
    return _Route(re.compile(f"^{pattern}$"), methods)


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


def _match(routes: Iterable[_Route], method: str, path: str) -> tuple[tuple[str | None, str], dict[str, str]]:
    """The (scope, endpoint) for a request, or 404 / 405 (with ``Allow``)."""
    lookup = "GET" if method == "HEAD" else method
    for route in routes:
        found = route.pattern.match(path)
        if found is None:
            continue
        if lookup not in route.methods:
            allowed = ", ".join(sorted(route.methods))
            raise ApiError(405, f"{method} is not allowed on {_short(path)} (allowed: {allowed})", headers=(("Allow", allowed),))
        params = {key: unquote(value) for key, value in found.groupdict().items()}
        return route.methods[lookup], params
    raise ApiError(404, f"no such endpoint: {method} {_short(path)}")


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _is_loopback(host: str) -> bool:
    try:
        address = ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


@lru_cache(maxsize=1)
def _openapi_document() -> dict[str, Any]:
    import yaml

    with open(schemas.schemas_dir() / OPENAPI_FILE, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _reject_constant(name: str) -> Any:
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
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ApiError(400, "the request body is nested too deeply") from None
    except ValueError as error:
        raise ApiError(400, f"the request body is not valid JSON: {error}") from None


class SandboxApp:
    """The gateway's behaviour; shared by every handler thread."""

    def __init__(
        self,
        *,
        store: ModelStore,
        issuer: TokenIssuer,
        defaults: FaultSettings,
        clock: Callable[[], float],
        webhook: WebhookVerifier = WebhookVerifier(),
    ) -> None:
        self.store = store
        self.issuer = issuer
        self.defaults = defaults
        self.injector = FaultInjector(defaults)
        self.limiter = RateLimiter(defaults.rate_limit, defaults.rate_window_seconds, clock)
        self.requests = _Journal(REQUEST_LOG_SIZE)
        self.deliveries = _Journal(WEBHOOK_LOG_SIZE)
        self.webhook = webhook
        self.base_url = ""

    # --- the pipeline -------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one request; never raises (a bug becomes a logged 500)."""
        incoming = request.header("inin-correlation-id")
        ctx = _Context(incoming if incoming and _CORRELATION.match(incoming) else str(uuid.uuid4()))
        started = time.time()
        try:
            response = self._dispatch(request, ctx)
        except ApiError as error:
            response = error_response(error, ctx.correlation_id)
        except Exception:
            logger.exception("sandbox bug while answering %s %s (contextId %s)", request.method, _short(request.path), ctx.correlation_id)
            response = error_response(
                ApiError(500, f"the sandbox failed while answering this request (contextId {ctx.correlation_id}); see its log"),
                ctx.correlation_id,
            )
        response = Response(
            status=response.status,
            body=response.body,
            headers=response.headers + tuple(ctx.headers) + (("inin-correlation-id", ctx.correlation_id),),
            content_type=response.content_type,
            close=response.close or (request.body_error is not None and request.body_error.close),
            drop=response.drop,
            delay=ctx.delay,
            body_delay=ctx.body_delay,
        )
        self._record(request, response, ctx, started)
        return response

    def protocol_error(self, error: ApiError, method: str, path: str) -> Response:
        """An answer for a request http.server could not even parse (414, 431…)."""
        return self.handle(Request(method=method or "", path=path or "", body_error=error, unparsable=True))

    def _record(self, request: Request, response: Response, ctx: _Context, started: float) -> None:
        if request.path.startswith("/__sandbox/") and request.path != WEBHOOK_PATH:
            return
        self.requests.add(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "status": None if response.drop else response.status,
                "time": utc_timestamp(),
                "duration_ms": round((time.time() - started) * 1000, 3),
                "client_id": ctx.client_id,
                "correlation_id": ctx.correlation_id,
            }
        )

    def _dispatch(self, request: Request, ctx: _Context) -> Response:
        path = request.path
        if request.unparsable and request.body_error is not None:
            raise request.body_error
        is_api = path.startswith("/api/v2/") and not path.startswith("/api/v2/docs/")
        if is_api or path == "/oauth/token" or path == WEBHOOK_PATH:
            fault = self._inject(request, ctx, latency=path != WEBHOOK_PATH)
            if fault is not None:
                return fault
        if is_api:
            return self._api(request, ctx)
        if request.body_error is not None:
            raise request.body_error
        routes: tuple[_Route, ...] = PUBLIC_ROUTES
        if path.startswith("/__sandbox/"):
            if not _is_loopback(request.client_host):
                raise ApiError(403, "the /__sandbox/ endpoints answer loopback clients only", code="forbidden")
            routes = ADMIN_ROUTES
        (_, name), params = _match(routes, request.method, path)
        return getattr(self, name)(request, params, ctx)

    def _inject(self, request: Request, ctx: _Context, latency: bool) -> Response | None:
        if latency:
            ctx.delay = self.injector.latency_seconds()
        decision = self.injector.decide(request.method, request.path)
        if decision is None:
            return None
        rule = decision.rule
        if rule.effect == "drop":
            return Response(status=0, drop=True)
        if rule.effect == "slow_body":
            ctx.body_delay = rule.delay_ms / 1000.0
            return None
        status = rule.status or 503
        if request.path.startswith("/api/v2/") and not request.path.startswith("/api/v2/docs/"):
            ctx.headers.extend(self.limiter.peek(self._rate_client(request)).headers())
        headers: tuple[tuple[str, str], ...] = ()
        if rule.retry_after is not None:
            headers = (("Retry-After", str(math.ceil(rule.retry_after))),)
        what = {429: "too many requests", 503: "the service is unavailable"}.get(status, f"error {status}")
        raise ApiError(status, f"{what} (injected by sandbox fault rule {decision.index})", headers=headers)

    def _rate_client(self, request: Request) -> str:
        """Whose window a request counts in: its token's client, else one shared anonymous window."""
        token = _bearer(request.header("Authorization"))
        grant, _ = self.issuer.resolve(token) if token else (None, "missing")
        return grant.client_id if grant else ANONYMOUS_CLIENT

    def _api(self, request: Request, ctx: _Context) -> Response:
        token = _bearer(request.header("Authorization"))
        grant, why = self.issuer.resolve(token) if token else (None, "missing")
        state = self.limiter.hit(grant.client_id if grant else ANONYMOUS_CLIENT)
        ctx.headers.extend(state.headers())
        if grant is not None:
            ctx.client_id = grant.client_id
        if not state.allowed:
            wait = state.reset_header()
            raise ApiError(
                429,
                f"rate limit exceeded: {state.count} requests in this window, the budget is {state.budget}; retry in {wait} s",
                headers=(("Retry-After", str(wait)),),
            )
        if grant is None:
            raise ApiError(401, _UNAUTHORIZED[why])
        if request.body_error is not None:
            raise request.body_error
        (scope, name), params = _match(API_ROUTES, request.method, request.path)
        if scope is not None and scope not in grant.scopes:
            raise ApiError(
                403,
                f"missing permission: {request.method} {_short(request.path)} needs the scope {scope}, "
                f"which client {grant.client_id} was not granted",
            )
        return getattr(self, name)(request, params, ctx)

    # --- OAuth ----------------------------------------------------------------------

    def token(self, request: Request, params: dict[str, str], ctx: _Context) -> Response:
        if request.media_type() != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request", "the token request must be sent as application/x-www-form-urlencoded")
        try:
            form = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True, max_num_fields=20))
        except ValueError:
            return _oauth_error(400, "invalid_request", "the token request body is not a valid form")
        grant_type = form.get("grant_type")
        if not grant_type:
            return _oauth_error(400, "invalid_request", "grant_type is required (client_credentials)")
        if grant_type != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "only grant_type=client_credentials is supported")
        credentials = _basic_credentials(request.header("Authorization"))
        if credentials is None and "client_id" in form:
            credentials = (form.get("client_id", ""), form.get("client_secret", ""))
        if credentials is None:
            return _oauth_error(401, "invalid_client", "client authentication failed: send the client id and secret with HTTP Basic auth")
        client_id, secret = credentials
        if self.issuer.authenticate(client_id, secret) is None:
            return _oauth_error(401, "invalid_client", "client authentication failed: unknown client or wrong secret")
        lifetime = self.injector.settings.token_lifetime_seconds
        ctx.client_id = client_id
        access_token = self.issuer.issue(client_id, lifetime)
        return json_response(
            {"access_token": access_token, "token_type": "bearer", "expires_in": lifetime},
            headers=[("Cache-Control", "no-store")],
        )

    # --- the models API ---------------------------------------------------------------

    def list_models(self, request: Request, params: dict[str, str], ctx: _Context) -> Response:
        query = _query(request)
        problems: list[FieldProblem] = []
        page_size = _int_param(query, "pageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE, problems)
        page_number = _int_param(query, "pageNumber", 1, 1, MAX_PAGE_NUMBER, problems)
        expand = query.get("expand")
        if expand is not None and expand != "configuration":
            problems.append(FieldProblem("expand", f"{_short(expand, 60)!r} cannot be expanded (allowed: configuration)"))
        if problems:
            raise ApiError(400, problems_message("the query is not valid", problems), problems)
        with_config = expand is not None
        entries, total = self.store.page((page_number - 1) * page_size, page_size)
        page_count = math.ceil(total / page_size)

        def uri(number: int) -> str:
            suffix = "&expand=configuration" if with_config else ""
            return f"/api/v2/ai/models?pageSize={page_size}&pageNumber={number}{suffix}"

        body: dict[str, Any] = {
            "entities": [self.store.entity(model, config, with_config) for model, config in entries],
            "pageSize": page_size,
            "pageNumber": page_number,
            "total": total,
            "pageCount": page_count,
            "firstUri": uri(1),
            "selfUri": uri(page_number),
            "lastUri": uri(max(page_count, 1)),
        }
        if page_number < page_count:
            body["nextUri"] = uri(page_number + 1)
        if page_number > 1:
            body["previousUri"] = uri(page_number - 1)
        return json_response(body)

    def get_model(self, request: Request, params: dict[str, str], ctx: _Context) -> Response:
        return json_response(self.store.model(_model_id(params)).to_api())

    def get_configuration(self, request: Request, params: dict[str, str], ctx: _Context) -> Response:
        return json_response(self.store.configuration(_model_id(params)))

    def put_configuration(self, request: Request, params: dict[str, str], ctx: _Context) -> Response:
        model_id = _model_id(params)
        self.store.model(model_id)  # 404 before complaining about the body
        return json_response(self.store.put_configuration(model_id, _json_body(request)))

    def openapi(self, request: Request, params: dict[str, str], ctx: _Context) -> Response:
        document = dict(_openapi_document())
        if self.base_url:
            document["servers"] = [{"url": self.base_url, "description": "this sandbox"}]
        return json_response(document)

    # --- /__sandbox/ -------------------------------------------------------------------

    def health(self, request: Request, params: dict[str, str], ctx: _Context) -> Response:
        return json_response({"status": "ok", "models": self.store.count()})

    def get_faults(self, request: Request, params: dict[str, str], ctx: _Context) -> Response:
        return json_response(self.injector.snapshot())

    def set_faults(self, request: Request, params: dict[str, str], ctx: _Context) -> Response:
        body = _json_body(request)
        try:
            settings = self.defaults.updated(body)
        except InvalidFaults as invalid:
            problems = [FieldProblem(v.field, v.message) for v in invalid.violations]
            raise ApiError(400, problems_message("the fault settings are not valid", problems), problems) from None
        self.install_faults(settings)
        return json_response(self.injector.snapshot())

    def reset_faults(self, request: Request, params: dict[str, str], ctx: _Context) -> Response:
        self.install_faults(self.defaults)
        return json_response(self.injector.snapshot())

    def install_faults(self, settings: FaultSettings) -> None:
        self.injector.replace(settings)
        self.limiter.reconfigure(settings.rate_limit, settings.rate_window_seconds)

    def upsert_models(self, request: Request, params: dict[str, str], ctx: _Context) -> Response:
        return json_response({"models": self.store.upsert_models(_json_body(request))})

    def delete_model(self, request: Request, params: dict[str, str], ctx: _Context) -> Response:
        model_id = _model_id(params)
        self.store.delete_model(model_id)
        return json_response({"deleted": model_id.lower()})

    def patch_configuration(self, request: Request, params: dict[str, str], ctx: _Context) -> Response:
        return json_response(self.store.patch_configuration(_model_id(params), _json_body(request)))

    def get_requests(self, request: Request, params: dict[str, str], ctx: _Context) -> Response:
        return json_response({"requests": self.requests.all()})

    def clear_requests(self, request: Request, params: dict[str, str], ctx: _Context) -> Response:
        return json_response({"cleared": self.requests.clear()})

    def receive_webhook(self, request: Request, params: dict[str, str], ctx: _Context) -> Response:
        raw = request.body.decode("utf-8", "replace")
        body: Any = raw
        if request.media_type().endswith("json"):
            try:
                body = json.loads(request.body, parse_constant=_reject_constant)
                dumps(body)
            except (ValueError, RecursionError):
                body = raw
        verdict = self.webhook.verdict(request.headers, request.body, now=time.time())
        self.deliveries.add(
            {"headers": dict(request.headers), "body": body, "raw": raw, "query": request.query, "time": utc_timestamp(), **verdict}
        )
        return json_response({"received": True})

    def get_webhook(self, request: Request, params: dict[str, str], ctx: _Context) -> Response:
        return json_response({"deliveries": self.deliveries.all()})

    def clear_webhook(self, request: Request, params: dict[str, str], ctx: _Context) -> Response:
        return json_response({"cleared": self.deliveries.clear()})

    def revoke_tokens(self, request: Request, params: dict[str, str], ctx: _Context) -> Response:
        return json_response({"revoked": self.issuer.revoke_all()})


_UNAUTHORIZED = {
    "missing": "authentication required: send an Authorization: Bearer <access token> header (tokens come from POST /oauth/token)",
    "unknown": "the access token is not valid",
    "expired": "the access token has expired; request a new one",
}


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
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


def _oauth_error(status: int, error: str, description: str) -> Response:
    return json_response({"error": error, "description": description, "error_description": description}, status=status)


def _query(request: Request) -> dict[str, str]:
    try:
        return dict(parse_qsl(request.query, keep_blank_values=True, max_num_fields=50, errors="strict"))
    except ValueError as error:
        raise ApiError(400, f"the query string is not valid: {error}") from None


def _int_param(query: Mapping[str, str], name: str, default: int, minimum: int, maximum: int, problems: list[FieldProblem]) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not _DIGITS.match(raw) or not minimum <= int(raw) <= maximum:
        problems.append(FieldProblem(name, f"{_short(raw, 40)!r} is not a whole number from {minimum} to {maximum}"))
        return default
    return int(raw)


def _model_id(params: Mapping[str, str]) -> str:
    model_id = params["model_id"]
    if not _UUID.match(model_id):
        raise ApiError(404, f"model {_short(model_id, 60)!r} not found: model ids are UUIDs (8-4-4-4-12 hexadecimal digits)")
    return model_id


def _json_body(request: Request) -> Any:
    media_type = request.media_type()
    if media_type != "application/json" and not (media_type.startswith("application/") and media_type.endswith("+json")):
        shown = media_type or "none"
        raise ApiError(415, f"the request body must be application/json (Content-Type was {_short(shown, 60)})")
    return parse_json(request.body)

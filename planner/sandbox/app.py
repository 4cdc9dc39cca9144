"""The sandbox's pipeline and the gateway API: one request in, one :class:`Response` out.

This is everything the gateway does, without sockets: faults, OAuth, rate
limits, the models API and the OpenAPI document; the ``/__sandbox/`` admin
endpoints are in :mod:`planner.sandbox.admin`.  ``server.py`` only reads
bytes into a :class:`Request` and writes the answer back.

Order of checks on the API (``/api/v2/…`` except the docs), as a gateway
does it: injected faults, then the client's rate-limit window, then the
token (401), then the body (413…), the route (404/405), the scope (403), and
the endpoint itself.  Every API answer carries ``inin-ratelimit-*``, as the
contract says; an answer injected by a fault rule carries the client's
window as it stands but is not counted in it, so a test's injected 429s and
503s neither spend the budget nor hide it (a client reading the headers can
tell an injected 429, count under budget, from a spent budget).

Two faults let a request land and take its answer away: ``lost_answer``
(the connection is closed instead of answering) and ``slow_answer`` (the
answer waits ``delay_ms``).  The request log records what was decided and
what became of the answer (``answer``: sent, dropped, lost, delayed).
"""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from dataclasses import replace
from typing import Any, Callable
from urllib.parse import parse_qsl

from planner.sandbox import openapi
from planner.sandbox.admin import REQUEST_LOG_SIZE, WEBHOOK_LOG_SIZE, AdminEndpoints, Journal
from planner.sandbox.answers import ApiError, FieldProblem, Response, error_response, json_response, problems_message
from planner.sandbox.faults import FaultInjector, FaultSettings, RateLimiter
from planner.sandbox.routing import (
    ADMIN_ROUTES,
    API_ROUTES,
    PUBLIC_ROUTES,
    WEBHOOK_PATH,
    Context,
    Request,
    Route,
    basic_credentials,
    bearer,
    int_param,
    is_loopback,
    json_body,
    match,
    model_id,
    query,
    short,
)
from planner.sandbox.store import ModelStore, utc_timestamp
from planner.sandbox.tokens import TokenIssuer
from planner.sandbox.webhook import WebhookVerifier

logger = logging.getLogger("llmplan.sandbox")

MAX_BODY_BYTES = 1024 * 1024
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_NUMBER = 999_999_999
ANONYMOUS_CLIENT = "(anonymous)"

_CORRELATION = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

__all__ = ["MAX_BODY_BYTES", "Request", "SandboxApp"]


class SandboxApp(AdminEndpoints):
    """The gateway's behaviour; shared by every handler thread."""

    def __init__(
        self,
        *,
        store: ModelStore,
        issuer: TokenIssuer,
        defaults: FaultSettings,
        clock: Callable[[], float],
        webhook: WebhookVerifier | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.issuer = issuer
        self.defaults = defaults
        self.injector = FaultInjector(defaults)
        self.limiter = RateLimiter(defaults.rate_limit, defaults.rate_window_seconds, clock)
        self.requests = Journal(REQUEST_LOG_SIZE)
        self.deliveries = Journal(WEBHOOK_LOG_SIZE)
        self.webhook = webhook or WebhookVerifier()  # none given: deliveries are recorded unchecked
        self.wall_clock = wall_clock
        self.base_url = ""

    # --- the pipeline -------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one request; never raises (a bug becomes a logged 500)."""
        incoming = request.header("inin-correlation-id")
        ctx = Context(incoming if incoming and _CORRELATION.match(incoming) else str(uuid.uuid4()))
        started = time.time()
        try:
            response = self._dispatch(request, ctx)
        except ApiError as error:
            response = error_response(error, ctx.correlation_id)
        except Exception:
            logger.exception("sandbox bug while answering %s %s (contextId %s)", request.method, short(request.path), ctx.correlation_id)
            response = error_response(
                ApiError(500, f"the sandbox failed while answering this request (contextId {ctx.correlation_id}); see its log"),
                ctx.correlation_id,
            )
        response = replace(
            response,
            headers=response.headers + tuple(ctx.headers) + (("inin-correlation-id", ctx.correlation_id),),
            close=response.close or (request.body_error is not None and request.body_error.close),
            drop=response.drop or ctx.answer == "lost",
            delay=ctx.delay,
            body_delay=ctx.body_delay,
        )
        self._record(request, response, ctx, started)
        return response

    def protocol_error(self, error: ApiError, method: str, path: str) -> Response:
        """An answer for a request http.server could not even parse (414, 431…)."""
        return self.handle(Request(method=method or "", path=path or "", body_error=error, unparsable=True))

    def _record(self, request: Request, response: Response, ctx: Context, started: float) -> None:
        if request.path.startswith("/__sandbox/") and request.path != WEBHOOK_PATH:
            return
        self.requests.add(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "status": None if ctx.answer == "dropped" else response.status,
                "answer": ctx.answer,
                "time": utc_timestamp(),
                "duration_ms": round((time.time() - started) * 1000, 3),
                "client_id": ctx.client_id,
                "correlation_id": ctx.correlation_id,
            }
        )

    def _dispatch(self, request: Request, ctx: Context) -> Response:
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
        routes: tuple[Route, ...] = PUBLIC_ROUTES
        if path.startswith("/__sandbox/"):
            if not is_loopback(request.client_host):
                raise ApiError(403, "the /__sandbox/ endpoints answer loopback clients only", code="forbidden")
            routes = ADMIN_ROUTES
        (_, name), params = match(routes, request.method, path)
        response: Response = getattr(self, name)(request, params, ctx)
        return response

    def _inject(self, request: Request, ctx: Context, latency: bool) -> Response | None:
        if latency:
            ctx.delay = self.injector.latency_seconds()
        decision = self.injector.decide(request.method, request.path)
        if decision is None:
            return None
        rule = decision.rule
        if rule.effect == "drop":
            ctx.answer = "dropped"
            return Response(status=0, drop=True)
        if rule.effect == "slow_body":
            ctx.body_delay = rule.delay_ms / 1000.0
            return None
        if rule.effect == "lost_answer":
            ctx.answer = "lost"
            return None
        if rule.effect == "slow_answer":
            ctx.answer = "delayed"
            ctx.delay += rule.delay_ms / 1000.0
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
        token = bearer(request.header("Authorization"))
        grant, _ = self.issuer.resolve(token) if token else (None, "missing")
        return grant.client_id if grant else ANONYMOUS_CLIENT

    def _api(self, request: Request, ctx: Context) -> Response:
        token = bearer(request.header("Authorization"))
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
        (scope, name), params = match(API_ROUTES, request.method, request.path)
        if scope is not None and scope not in grant.scopes:
            raise ApiError(
                403,
                f"missing permission: {request.method} {short(request.path)} needs the scope {scope}, "
                f"which client {grant.client_id} was not granted",
            )
        response: Response = getattr(self, name)(request, params, ctx)
        return response

    # --- OAuth ----------------------------------------------------------------------

    def token(self, request: Request, params: dict[str, str], ctx: Context) -> Response:
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
        credentials = basic_credentials(request.header("Authorization"))
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

    def list_models(self, request: Request, params: dict[str, str], ctx: Context) -> Response:
        values = query(request)
        problems: list[FieldProblem] = []
        page_size = int_param(values, "pageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE, problems)
        page_number = int_param(values, "pageNumber", 1, 1, MAX_PAGE_NUMBER, problems)
        expand = values.get("expand")
        if expand is not None and expand != "configuration":
            problems.append(FieldProblem("expand", f"{short(expand, 60)!r} cannot be expanded (allowed: configuration)"))
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

    def get_model(self, request: Request, params: dict[str, str], ctx: Context) -> Response:
        return json_response(self.store.model(model_id(params)).to_api())

    def get_configuration(self, request: Request, params: dict[str, str], ctx: Context) -> Response:
        return json_response(self.store.configuration(model_id(params)))

    def put_configuration(self, request: Request, params: dict[str, str], ctx: Context) -> Response:
        wanted = model_id(params)
        self.store.model(wanted)  # 404 before complaining about the body
        return json_response(self.store.put_configuration(wanted, json_body(request)))

    def openapi(self, request: Request, params: dict[str, str], ctx: Context) -> Response:
        document = dict(openapi.document())
        if self.base_url:
            document["servers"] = [{"url": self.base_url, "description": "this sandbox"}]
        return json_response(document)


_UNAUTHORIZED = {
    "missing": "authentication required: send an Authorization: Bearer <access token> header (tokens come from POST /oauth/token)",
    "unknown": "the access token is not valid",
    "expired": "the access token has expired; request a new one",
}


def _oauth_error(status: int, error: str, description: str) -> Response:
    return json_response({"error": error, "description": description, "error_description": description}, status=status)

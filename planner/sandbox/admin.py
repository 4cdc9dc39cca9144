"""The ``/__sandbox/`` endpoints: seeding models, drift, faults, the request
log, the webhook receiver.  Not part of the real API; no token; loopback
clients only (the pipeline in :mod:`planner.sandbox.app` checks that).

Every body is judged by the OpenAPI document's own component schemas
(400), then by what only the stored models can tell (409), so what the
document allows is what these endpoints accept.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any, Callable

from planner.sandbox.answers import ApiError, FieldProblem, Response, dumps, json_response, problems_message
from planner.sandbox.faults import FaultInjector, FaultSettings, InvalidFaults, RateLimiter
from planner.sandbox.routing import Context, Request, json_body, model_id, reject_constant
from planner.sandbox.store import ModelStore, utc_timestamp
from planner.sandbox.tokens import TokenIssuer
from planner.sandbox.webhook import WebhookVerifier

REQUEST_LOG_SIZE = 10_000
WEBHOOK_LOG_SIZE = 1_000


class Journal:
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


class AdminEndpoints:
    """The admin endpoints of :class:`~planner.sandbox.app.SandboxApp` (a mixin:
    the app owns the store, the faults, the limiter and the journals)."""

    store: ModelStore
    issuer: TokenIssuer
    defaults: FaultSettings
    injector: FaultInjector
    limiter: RateLimiter
    requests: Journal
    deliveries: Journal
    webhook: WebhookVerifier
    wall_clock: Callable[[], float]

    def health(self, request: Request, params: dict[str, str], ctx: Context) -> Response:
        return json_response({"status": "ok", "models": self.store.count()})

    # --- faults -------------------------------------------------------------------------

    def get_faults(self, request: Request, params: dict[str, str], ctx: Context) -> Response:
        return json_response(self.injector.snapshot())

    def set_faults(self, request: Request, params: dict[str, str], ctx: Context) -> Response:
        body = json_body(request)
        try:
            settings = self.defaults.updated(body)
        except InvalidFaults as invalid:
            problems = [FieldProblem(v.field, v.message) for v in invalid.violations]
            raise ApiError(400, problems_message("the fault settings are not valid", problems), problems) from None
        self.install_faults(settings)
        return json_response(self.injector.snapshot())

    def reset_faults(self, request: Request, params: dict[str, str], ctx: Context) -> Response:
        self.install_faults(self.defaults)
        return json_response(self.injector.snapshot())

    def install_faults(self, settings: FaultSettings) -> None:
        self.injector.replace(settings)
        self.limiter.reconfigure(settings.rate_limit, settings.rate_window_seconds)

    # --- models and drift -------------------------------------------------------------------

    def upsert_models(self, request: Request, params: dict[str, str], ctx: Context) -> Response:
        return json_response({"models": self.store.upsert_models(json_body(request))})

    def delete_model(self, request: Request, params: dict[str, str], ctx: Context) -> Response:
        wanted = model_id(params)
        self.store.delete_model(wanted)
        return json_response({"deleted": wanted.lower()})

    def patch_configuration(self, request: Request, params: dict[str, str], ctx: Context) -> Response:
        return json_response(self.store.patch_configuration(model_id(params), json_body(request)))

    # --- journals -------------------------------------------------------------------------------

    def get_requests(self, request: Request, params: dict[str, str], ctx: Context) -> Response:
        return json_response({"requests": self.requests.all()})

    def clear_requests(self, request: Request, params: dict[str, str], ctx: Context) -> Response:
        return json_response({"cleared": self.requests.clear()})

    def receive_webhook(self, request: Request, params: dict[str, str], ctx: Context) -> Response:
        raw = request.body.decode("utf-8", "replace")
        body: Any = raw
        if request.media_type().endswith("json"):
            try:
                body = json.loads(request.body, parse_constant=reject_constant)
                dumps(body)
            except (ValueError, RecursionError):
                body = raw
        verdict = self.webhook.verdict(request.headers, request.body, now=self.wall_clock())
        self.deliveries.add(
            {"headers": dict(request.headers), "body": body, "raw": raw, "query": request.query, "time": utc_timestamp(), **verdict}
        )
        return json_response({"received": True})

    def get_webhook(self, request: Request, params: dict[str, str], ctx: Context) -> Response:
        return json_response({"deliveries": self.deliveries.all()})

    def clear_webhook(self, request: Request, params: dict[str, str], ctx: Context) -> Response:
        return json_response({"cleared": self.deliveries.clear()})

    def revoke_tokens(self, request: Request, params: dict[str, str], ctx: Context) -> Response:
        return json_response({"revoked": self.issuer.revoke_all()})

"""HTTP answers of the sandbox as plain data, and the Genesys error body.

Endpoint code returns a :class:`Response` or raises :class:`ApiError`; only
the request handler turns them into bytes on a socket.  Every error body has
the Platform API shape of the contract (``message``, ``code``, ``status``,
``contextId``, ``errors[]``…), built in exactly one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

# Genesys Cloud's error codes for the statuses the sandbox can answer.
ERROR_CODES: dict[int, str] = {
    400: "bad.request",
    401: "bad.credentials",
    403: "missing.any.permissions",
    404: "not.found",
    405: "method.not.allowed",
    408: "request.timeout",
    409: "conflict",
    411: "length.required",
    413: "request.entity.too.large",
    414: "uri.too.long",
    415: "unsupported.media.type",
    429: "too.many.requests",
    431: "request.header.fields.too.large",
    500: "internal.server.error",
    502: "bad.gateway",
    503: "service.unavailable",
    504: "gateway.timeout",
}

JSON_TYPE = "application/json"


def error_code(status: int) -> str:
    return ERROR_CODES.get(status, f"http.{status}")


@dataclass(frozen=True)
class FieldProblem:
    """One entry of ``errors[]``: a field (may be empty) and what is wrong with it."""

    field: str
    message: str


@dataclass(frozen=True)
class Response:
    """What to send back.  ``drop``/``delay``/``body_delay`` are injected faults
    the handler carries out: close without answering, wait before answering,
    send the headers and wait before the body."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str | None = JSON_TYPE
    close: bool = False
    drop: bool = False
    delay: float = 0.0
    body_delay: float = 0.0

    def with_headers(self, extra: Iterable[tuple[str, str]]) -> "Response":
        return replace(self, headers=self.headers + tuple(extra))


@dataclass
class ApiError(Exception):
    """An answer with the Genesys error body; raised by endpoint code."""

    status: int
    message: str
    problems: Sequence[FieldProblem] = ()
    code: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    close: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.message}"


def dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def json_response(data: Any, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return Response(status=status, body=dumps(data), headers=tuple(headers))


def error_body(error: ApiError, context_id: str) -> dict[str, Any]:
    code = error.code or error_code(error.status)
    return {
        "message": error.message,
        "code": code,
        "status": error.status,
        "messageWithParams": error.message,
        "messageParams": {},
        "contextId": context_id,
        "details": [],
        "errors": [
            {
                "message": f"{problem.field}: {problem.message}" if problem.field else problem.message,
                "code": code,
                "status": error.status,
                "details": [{"fieldName": problem.field}] if problem.field else [],
            }
            for problem in error.problems
        ],
        **error.extra,
    }


def error_response(error: ApiError, context_id: str) -> Response:
    return Response(
        status=error.status,
        body=dumps(error_body(error, context_id)),
        headers=error.headers,
        close=error.close,
    )


def problems_message(what: str, problems: Sequence[FieldProblem]) -> str:
    """One line naming every problem, for ``message`` (``errors[]`` has them one by one)."""
    parts = [f"{p.field}: {p.message}" if p.field else p.message for p in problems]
    if len(parts) == 1:
        return parts[0]
    return f"{what}: {len(parts)} problems: " + "; ".join(parts)

"""Genesys Cloud error answers turned into the exceptions of :mod:`planner.model.errors`.

Every exception keeps what the body said (``status``, ``code``, every
``errors[]`` entry, ``contextId`` for support) and says what to do.  Text
from the gateway passes through ``scrub`` so that even a server echoing a
credential cannot put it into a message.
"""

from __future__ import annotations

import ssl
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import requests

from planner.adapters.gateway.deadline import AnswerDeadline, ConnectDeadline
from planner.adapters.gateway.endpoints import is_loopback_url
from planner.model.errors import (
    AuthenticationFailed,
    BadRequest,
    GatewayError,
    GatewayUnavailable,
    NotFound,
    PermissionDenied,
    RateLimited,
    VersionConflict,
)

Scrub = Callable[[str], str]
UNAVAILABLE_HINT = (
    "check that the address is right and the gateway is up and reachable from here; "
    "to wait longer for a slow gateway, raise --gateway-timeout SECONDS or gateway.timeout_seconds"
)


def required_scope(method: str, path: str) -> str | None:
    """The OAuth scope an endpoint of the contract needs."""
    if "/api/v2/ai/models" not in path:
        return None
    return "ai:llm:manage" if method.upper() == "PUT" else "ai:models:read"


def _field_names(entry: Mapping[str, Any]) -> list[str]:
    names = []
    for detail in entry.get("details") or ():
        if isinstance(detail, Mapping) and detail.get("fieldName"):
            names.append(str(detail["fieldName"]))
    return names


def _entries(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(entry) for entry in body.get("errors") or () if isinstance(entry, Mapping)]


def error_from_response(
    *,
    method: str,
    url: str,
    path: str,
    status: int,
    body: Any,
    retries: int = 0,
    scrub: Scrub = str,
) -> GatewayError:
    """The exception for a final non-2xx answer; ``body`` is the decoded JSON or None."""
    data: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    code = scrub(str(data["code"])) if data.get("code") else None
    said = scrub(str(data.get("message") or "")).strip()
    context_id = str(data["contextId"]) if data.get("contextId") else None
    entries = _entries(data)
    request = f"{method} {path}"
    answered = f"{status} {code}" if code else str(status)
    tail = (f": {said}" if said else "") + (f" [contextId {context_id}]" if context_id else "")
    after = f" after {retries + 1} attempts" if retries else ""
    common: dict[str, Any] = {"status": status, "code": code, "context_id": context_id, "errors": entries, "method": method, "url": url}

    if status == 400:
        if not entries:
            return BadRequest(f"{request} was refused ({answered}){tail}", **common)
        lines = []
        for entry in entries:
            text = scrub(str(entry.get("message") or entry.get("code") or "invalid"))
            prefix = ", ".join(_field_names(entry))
            # The gateway may already start the message with the field name.
            lines.append(f"  {text}" if not prefix or text.startswith(f"{prefix}:") else f"  {prefix}: {text}")
        count = len(entries)
        where = f" [contextId {context_id}]" if context_id else ""
        listing = "\n".join(lines)
        return BadRequest(f"{request} was refused ({answered}, {count} field violation{'s' if count != 1 else ''}){where}:\n{listing}", **common)
    if status == 401:
        return AuthenticationFailed(
            f"{request} was refused ({answered}) even with a freshly fetched token{tail}; "
            "check the client id and secret (GENESYSCLOUD_OAUTHCLIENT_ID / GENESYSCLOUD_OAUTHCLIENT_SECRET) and the client's scopes",
            **common,
        )
    if status == 403:
        scope = required_scope(method, path)
        if scope is None:
            return PermissionDenied(f"the OAuth client may not call {request} ({answered}){tail}", **common)
        # the scope on a line of its own (as a 400 lists its fields): in a long apply summary it is what the reader must find
        return PermissionDenied(
            f"the OAuth client lacks the scope {scope} needed for {request} ({answered}){tail}:\n  missing scope: {scope}",
            hint=f"grant the OAuth client (GENESYSCLOUD_OAUTHCLIENT_ID) the scope {scope}, or use a client that has it",
            **common,
        )
    if status == 404:
        return NotFound(f"{request}: not found ({answered}){tail}", **common)
    if status == 409:
        return VersionConflict(f"{request} was refused: the configuration changed on the gateway since it was read ({answered}){tail}", **common)
    if status == 429:
        return RateLimited(f"{request} is still rate limited{after} ({answered}){tail}", **common)
    if status in (502, 503, 504):
        return GatewayUnavailable(f"gateway unavailable: {request} answered {answered}{after}{tail}", **common)
    return GatewayError(f"{request}: unexpected answer {answered}{tail}", **common)


def error_from_exception(
    *, method: str, url: str, path: str, error: BaseException, retries: int = 0, where: str | None = None, seconds: float = 0.0
) -> GatewayUnavailable:
    """The exception for a connection failure or timeout that outlived its retries or the deadline.

    ``where`` names the gateway (its origin and where the address came from:
    ``http://127.0.0.1:9 (from $LLMPLAN_GATEWAY_URL)``); ``seconds`` is the
    real time spent on the request since its first unanswered attempt.
    Only the exception's class is quoted: urllib3's texts repeat the URL and
    pool internals, which say nothing more to a user.
    """
    after = f" after {retries + 1} attempts" if retries else ""
    during = f" in {seconds:.1f} s" if seconds >= 0.1 else ""
    at = f"; the gateway is {where}" if where else ""
    tls = tls_failure(error)
    if tls is not None:
        return GatewayUnavailable(f"TLS failed with the gateway: {method} {path}: {tls}{at}", method=method, url=url, hint=tls_hint(error, url))
    return GatewayUnavailable(
        f"gateway unavailable: {method} {path} failed{after} ({describe_exception(error)}){during}{at}",
        method=method,
        url=url,
        hint=UNAVAILABLE_HINT,
    )


def error_given_up(*, method: str, url: str, path: str, seconds: float, attempts: int, last: str, where: str) -> GatewayUnavailable:
    """The exception for a request not even sent: nothing has answered at the gateway's address
    for ``seconds`` (real time, every thread's ``attempts`` together)."""
    tried = f"{attempts} attempt{'s' if attempts != 1 else ''}, last: {last}" if attempts else last
    return GatewayUnavailable(
        f"gateway unavailable: {method} {path} not sent: nothing has answered at the gateway's address for {seconds:.1f} s ({tried}); the gateway is {where}",
        method=method,
        url=url,
        hint=UNAVAILABLE_HINT,
    )


# OpenSSL's reasons when the bytes that came back are not TLS at all: a plain-HTTP server answering the ClientHello
PLAIN_HTTP_REASONS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL", "HTTP_REQUEST"})


def _ssl_reason(error: BaseException) -> tuple[str, str] | None:
    """(reason, text) of the ssl.SSLError behind a requests SSLError, however deeply urllib3 wrapped it."""
    seen: set[int] = set()
    pending: list[Any] = [error]
    while pending:
        item = pending.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ssl.SSLError):
            return str(getattr(item, "reason", "") or ""), str(getattr(item, "verify_message", "") or item)
        pending.extend([*item.args, getattr(item, "reason", None), item.__cause__, item.__context__])
    return None


def tls_failure(error: BaseException) -> str | None:
    """What went wrong when the TLS handshake itself failed for good (retrying cannot help); None otherwise."""
    if not isinstance(error, requests.exceptions.SSLError):
        return None
    found = _ssl_reason(error)
    if found is None:
        return None
    reason, text = found
    if reason in PLAIN_HTTP_REASONS:
        return "the server answered the TLS handshake in plain HTTP: it does not speak https at that address"
    if reason == "CERTIFICATE_VERIFY_FAILED":
        return f"the server's TLS certificate could not be verified ({text})"
    return None


def tls_hint(error: BaseException, url: str) -> str:
    parts = urlsplit(url)
    found = _ssl_reason(error)
    if found is not None and found[0] in PLAIN_HTTP_REASONS:
        if is_loopback_url(url):
            return f"use http://{parts.netloc} instead: plain HTTP is allowed on loopback addresses (the sandbox serves http://)"
        return "check the port: that server speaks plain HTTP, and llmplan talks to a remote gateway only over https"
    return "check the gateway's certificate, or that the address is the gateway's (not a proxy's or another service's)"


def describe_exception(error: BaseException) -> str:
    """A short, secret-free name for a transport failure."""
    if isinstance(error, (AnswerDeadline, ConnectDeadline)):
        return str(error)
    if isinstance(error, requests.ConnectTimeout):
        return "connect timeout"
    if isinstance(error, requests.ReadTimeout):
        return "read timeout"
    if isinstance(error, requests.exceptions.ChunkedEncodingError):
        return "answer cut short"
    tls = tls_failure(error)
    if tls is not None:
        return tls
    if isinstance(error, requests.ConnectionError):
        text = str(error)
        if "Read timed out" in text:
            return "read timeout"
        if "NameResolutionError" in text or "Name or service not known" in text or "nodename nor servname" in text:
            return "the host name does not resolve"
        if "Connection refused" in text:
            return "connection refused"
        if "Connection reset" in text or "ConnectionResetError" in text:
            return "connection reset"
        if "RemoteDisconnected" in text or "Connection aborted" in text:
            return "connection closed without an answer"
        if isinstance(error, requests.exceptions.SSLError):
            return "TLS error"
        return "connection error"
    return type(error).__name__

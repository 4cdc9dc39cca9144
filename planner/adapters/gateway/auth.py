"""The OAuth client-credentials token: fetched once, shared, refreshed before it expires.

:class:`TokenCache` knows nothing of HTTP: it is given a function that
fetches a token (the client's ``POST /oauth/token``) and makes sure that

- every thread uses the cached token while it is fresh;
- it is refreshed ``refresh_margin`` seconds (60) before ``expires_in`` runs
  out, or halfway through a lifetime shorter than twice the margin, so a
  5-second test token is not refetched on every request;
- however many threads find it stale at once, exactly one fetches and the
  others wait for that fetch and share its token or its error (single flight);
- a token the gateway refused (401) is dropped only if it is still the
  current one, so sixteen threads hit by the same expiry cause one refetch.

The token's value is kept out of ``repr``, logs and messages.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from planner.model.errors import AuthenticationFailed, GatewayError

REFRESH_MARGIN_SECONDS = 60.0
SCOPES_HINT = "ai:llm:manage and ai:models:read"


@dataclass(frozen=True)
class TokenGrant:
    """What ``POST /oauth/token`` granted."""

    access_token: str = field(repr=False)
    expires_in: float


@dataclass(frozen=True)
class _CachedToken:
    value: str = field(repr=False)
    refresh_at: float


class TokenCache:
    """A single-flight cache around ``fetch``; thread-safe."""

    def __init__(
        self,
        fetch: Callable[[], TokenGrant],
        *,
        clock: Callable[[], float] = time.monotonic,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._refresh_margin = refresh_margin
        self._condition = threading.Condition()
        self._current: _CachedToken | None = None
        self._fetching = False
        self._flights = 0  # fetches finished, successful or not
        self._flight_error: BaseException | None = None
        self.fetch_count = 0

    def get(self) -> str:
        """A fresh token, fetching it if needed (or waiting for the thread that is)."""
        with self._condition:
            while True:
                current = self._current
                if current is not None and self._clock() < current.refresh_at:
                    return current.value
                if not self._fetching:
                    self._fetching = True
                    self.fetch_count += 1
                    break
                flight = self._flights
                while self._flights == flight:
                    self._condition.wait()
                if self._flight_error is not None:
                    raise self._flight_error
        started = self._clock()
        try:
            grant = self._fetch()
        except BaseException as error:
            with self._condition:
                self._fetching = False
                self._flights += 1
                self._flight_error = error
                self._condition.notify_all()
            raise
        lifetime = max(float(grant.expires_in), 0.0)
        margin = min(self._refresh_margin, lifetime / 2)
        token = _CachedToken(grant.access_token, refresh_at=started + lifetime - margin)
        with self._condition:
            self._current = token
            self._fetching = False
            self._flights += 1
            self._flight_error = None
            self._condition.notify_all()
        return token.value

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after the gateway refused it, unless a newer one replaced it already."""
        with self._condition:
            if self._current is not None and self._current.value == token:
                self._current = None


def grant_from_answer(body: Any, *, login_url: str) -> TokenGrant:
    """Read a 200 answer of the token endpoint (``body`` is the decoded JSON, or None)."""
    if isinstance(body, Mapping):
        token = body.get("access_token")
        expires_in = body.get("expires_in")
        if isinstance(token, str) and token and isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool):
            return TokenGrant(access_token=token, expires_in=float(expires_in))
    where = f"{login_url}/oauth/token"
    raise GatewayError(f"the token endpoint {where} answered 200 without access_token and expires_in", status=200, method="POST", url=where)


def credentials_refused(status: int, body: Any, *, login_url: str, scrub: Callable[[str], str] = str) -> AuthenticationFailed:
    """The error for a 400/401/403 of the token endpoint: bad client id/secret, or a disabled client.

    Quotes the server's ``error``/``description`` (passed through ``scrub``),
    never the request, which holds the secret.
    """
    where = f"{login_url}/oauth/token"
    error = description = ""
    if isinstance(body, Mapping):
        error = str(body.get("error") or body.get("code") or "")
        description = str(body.get("description") or body.get("error_description") or body.get("message") or "")
    said = scrub(": ".join(part for part in (error, description) if part))
    return AuthenticationFailed(
        f"the gateway refused the OAuth client credentials at {where} ({status}{' ' + said if said else ''}); "
        "check the client id and secret (GENESYSCLOUD_OAUTHCLIENT_ID / GENESYSCLOUD_OAUTHCLIENT_SECRET) "
        f"and that the client is granted the scopes {SCOPES_HINT}",
        status=status,
        code=scrub(error) or None,
        method="POST",
        url=where,
    )

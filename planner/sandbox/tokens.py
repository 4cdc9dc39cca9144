"""OAuth client credentials for the sandbox: clients, scopes and bearer tokens.

Tokens are random strings known only to this process; the clock is
injectable so a test can expire a token by moving time, not by sleeping.
Secrets and tokens never appear in a repr or a log line.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

SCOPE_MANAGE = "ai:llm:manage"
SCOPE_READ = "ai:models:read"
SCOPE_WEBHOOK = "integrations:webhook:manage"
ALL_SCOPES = frozenset({SCOPE_MANAGE, SCOPE_READ, SCOPE_WEBHOOK})

DEFAULT_CLIENT_ID = "sandbox"
DEFAULT_CLIENT_SECRET = "sandbox-secret"
READONLY_CLIENT_ID = "sandbox-readonly"
READONLY_CLIENT_SECRET = "sandbox-readonly-secret"


@dataclass(frozen=True)
class ClientSpec:
    """An OAuth client the sandbox accepts: its secret and the scopes it is granted."""

    secret: str = field(repr=False)
    scopes: frozenset[str] = ALL_SCOPES

    def __post_init__(self) -> None:
        object.__setattr__(self, "scopes", frozenset(self.scopes))


def default_clients() -> dict[str, ClientSpec]:
    """``sandbox`` with every scope, ``sandbox-readonly`` with read only (for 403 tests)."""
    return {
        DEFAULT_CLIENT_ID: ClientSpec(DEFAULT_CLIENT_SECRET, ALL_SCOPES),
        READONLY_CLIENT_ID: ClientSpec(READONLY_CLIENT_SECRET, frozenset({SCOPE_READ})),
    }


@dataclass(frozen=True)
class Grant:
    """What a valid token stands for."""

    client_id: str
    scopes: frozenset[str]
    expires_at: float


class TokenIssuer:
    """Checks client credentials and issues and resolves bearer tokens."""

    def __init__(self, clients: Mapping[str, ClientSpec], clock: Callable[[], float]) -> None:
        self._clients = dict(clients)
        self._clock = clock
        self._grants: dict[str, Grant] = {}
        self._lock = threading.Lock()

    def authenticate(self, client_id: str, secret: str) -> ClientSpec | None:
        client = self._clients.get(client_id)
        if client is None:
            # Compare anyway so an unknown id costs the same time as a wrong secret.
            hmac.compare_digest(secret.encode("utf-8", "replace"), b"x" * len(secret))
            return None
        if hmac.compare_digest(secret.encode("utf-8", "replace"), client.secret.encode("utf-8")):
            return client
        return None

    def issue(self, client_id: str, lifetime_seconds: int) -> str:
        client = self._clients[client_id]
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            if len(self._grants) > 1000:
                self._grants = {t: g for t, g in self._grants.items() if g.expires_at > now}
            self._grants[token] = Grant(client_id, client.scopes, now + lifetime_seconds)
        return token

    def resolve(self, token: str) -> tuple[Grant | None, str]:
        """The grant of a token, or ``None`` and why (``unknown`` or ``expired``)."""
        with self._lock:
            grant = self._grants.get(token)
        if grant is None:
            return None, "unknown"
        if self._clock() >= grant.expires_at:
            return None, "expired"
        return grant, "valid"

    def revoke_all(self) -> int:
        with self._lock:
            count = len(self._grants)
            self._grants.clear()
        return count

    @property
    def client_ids(self) -> Iterable[str]:
        return tuple(self._clients)

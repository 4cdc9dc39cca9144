"""A connection that refuses a peer llmplan never talks to, whatever name led there.

:mod:`planner.model.addresses` judges a URL by its text. A host *name* can still
resolve to a cloud metadata address (a listed gateway whose DNS record was
changed, a webhook at ``169.254.169.254.nip.io``), and only the connection
knows. :class:`GuardedAdapter` checks the address every new connection
reached, right after the TCP handshake and before TLS or a byte of the
request, so the same resolution that connects is the one judged (no window
for DNS rebinding between a check and the connect).

Through an HTTP(S) proxy the proxy resolves the name and is the only peer
seen here: its address is what gets checked.
"""

from __future__ import annotations

import socket
from ipaddress import ip_address
from typing import Any, Callable

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from planner.adapters.gateway.deadline import DeadlineConnection, current
from planner.model.addresses import IPAddress, address_never_allowed
from planner.model.errors import DestinationNotAllowed
from planner.model.printable import printable

Refusal = Callable[[IPAddress], "str | None"]


def checked_peer(sock: socket.socket, host: str, refuse: Refusal) -> socket.socket:
    """``sock`` if its peer may be talked to; else closed, and DestinationNotAllowed raised.

    The error is not an OSError, so neither urllib3 nor the gateway client
    takes it for a network failure to retry.
    """
    peer = str(sock.getpeername()[0])
    reason = refuse(ip_address(peer.partition("%")[0]))
    if reason is None:
        return sock
    exchange = current()
    if exchange is not None:
        exchange.forget(sock)
    sock.close()
    raise DestinationNotAllowed(
        f"{printable(host)} resolved to {peer}, {reason}; the connection was closed before anything was sent",
        hint="check the DNS record of that host; llmplan never sends requests to such an address",
    )


def _pool_classes(refuse: Refusal) -> dict[str, type]:
    # DeadlineConnection first: every socket is watched by the exchange of the thread that uses it
    class GuardedHTTPConnection(DeadlineConnection):
        def _new_conn(self) -> socket.socket:
            return checked_peer(super()._new_conn(), self.host, refuse)

    class GuardedHTTPSConnection(DeadlineConnection, HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return checked_peer(super()._new_conn(), self.host, refuse)

    class GuardedHTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    return {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}


class GuardedAdapter(HTTPAdapter):
    """requests' HTTPAdapter whose direct connections refuse a peer that ``refuse`` names a reason for,
    and keep to the deadline of the exchange they serve (:mod:`planner.adapters.gateway.deadline`).

    ``refuse`` defaults to :func:`planner.model.addresses.address_never_allowed`
    (link-local and cloud metadata addresses); a test passes its own to
    prove the check runs on a loopback connection.
    """

    def __init__(self, *args: Any, refuse: Refusal = address_never_allowed, **kwargs: Any) -> None:
        self._refuse = refuse  # before super().__init__, which builds the pool manager
        super().__init__(*args, **kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self._refuse)

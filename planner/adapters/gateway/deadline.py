"""One deadline per exchange: connecting, sending and the whole answer, whatever the peer does.

requests and urllib3 bound each socket operation (the connect, each read),
never an exchange as a whole: a peer that answers ``200`` with
``Content-Length: 100000`` and then sends one byte every 2 s keeps a 15 s
read timeout happy for two days.  So every exchange with the outside (the
gateway, its token endpoint, the governance receiver) runs inside an
:class:`Exchange`:

- the connections of llmplan's adapters (:mod:`planner.adapters.gateway.guard` mounts
  :class:`DeadlineConnection` under them) register their socket with the
  exchange of the thread that uses them, from before the TCP connect to the
  last byte of the answer, pooled connections included;
- one watchdog thread per process shuts those sockets down when an
  exchange's deadline passes (``shutdown(2)`` ends a blocked connect, send
  or receive at once, TLS or not);
- the exchange's :class:`~planner.adapters.waiting.Cancellation` does the same at
  once when the command is interrupted.

The caller then learns why the exchange ended: :class:`ConnectDeadline`
(cut before a byte of the request was sent, so it certainly did nothing),
:class:`AnswerDeadline` (cut after: the outcome is unknown), or
:class:`Cancelled`.  Each carries the real elapsed time.

A host name is resolved in a helper thread that the exchange waits for,
bounded by the same deadline: ``getaddrinfo`` cannot be interrupted, and a
resolver that does not answer would otherwise hold the exchange for as long
as the system's resolver retries.  A lookup still running when the exchange
gives up finishes in the background.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import sys
import threading
import time
from ipaddress import ip_address
from socket import timeout as SocketTimeout
from typing import Any, Sequence

import requests
from urllib3.connection import HTTPConnection
from urllib3.exceptions import ConnectTimeoutError, LocationParseError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from planner.adapters.waiting import CANCEL_POLL_SECONDS, Cancellation

DEADLINE = "deadline"
CANCELLED = "cancelled"
# requests' per-read timeout, given with an exchange, comes this long after the exchange's deadline:
# only a fallback, so that on a slow machine it never fires first and calls the deadline a read timeout
READ_TIMEOUT_MARGIN = 1.0


class ConnectDeadline(requests.ConnectTimeout):
    """The exchange's deadline passed before a byte of the request was sent (resolving, connecting, TLS)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"not connected within {seconds:.1f} s")
        self.seconds = seconds


class AnswerDeadline(requests.ReadTimeout):
    """The exchange's deadline passed after the request may have been sent, before its answer was complete."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no complete answer within {seconds:.1f} s")
        self.seconds = seconds


class Exchange:
    """One request and its whole answer, ending by ``seconds`` from now (real time) or on cancel.

    Use as a context manager around the request, in the thread that sends
    it: connections made or reused inside find it with :func:`current`.
    Thread-safe: the watchdog and a cancelling thread cut it from outside.
    """

    def __init__(self, seconds: float, *, cancellation: Cancellation | None = None) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self.deadline = self.started + seconds
        self._cancellation = cancellation
        self._lock = threading.Lock()
        self._sockets: list[tuple[socket.socket, int]] = []
        self._done = False
        self._forget_cancel = lambda: None
        self._previous: Exchange | None = None
        self.cut_by: str | None = None  # DEADLINE or CANCELLED, once cut
        self.cut_after = 0.0  # seconds from the start to the cut
        self.sent = False  # a byte of the request may have left

    def __enter__(self) -> Exchange:
        self._previous = getattr(_local, "exchange", None)
        _local.exchange = self
        _WATCHDOG.add(self)
        if self._cancellation is not None:
            self._forget_cancel = self._cancellation.on_cancel(lambda: self.cut(CANCELLED))
        return self

    def __exit__(self, *exc_info: object) -> None:
        _local.exchange = self._previous
        with self._lock:
            self._done = True
            self._sockets.clear()
        _WATCHDOG.remove(self)
        self._forget_cancel()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def cut(self, why: str) -> None:
        """End the exchange now: every socket it uses is shut down (the blocked call returns)."""
        with self._lock:
            if self._done or self.cut_by is not None:
                return
            self.cut_by = why
            self.cut_after = self.elapsed
            for sock, number in self._sockets:
                _shut(sock, number)

    def watch(self, sock: Any) -> None:
        """Cut ``sock`` with the exchange (at once if it is cut already)."""
        if not isinstance(sock, socket.socket):
            return  # TLS inside TLS (an HTTPS proxy): its outer socket was watched when it connected
        with self._lock:
            if self._done:
                return
            number = sock.fileno()
            # the TCP socket a TLS socket took over is reached through the TLS socket from now on
            self._sockets = [(known, was) for known, was in self._sockets if known is not sock and not (was == number and known.fileno() == -1)]
            self._sockets.append((sock, number))
            if self.cut_by is not None:
                _shut(sock, number)

    def forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets = [(known, number) for known, number in self._sockets if known is not sock]

    def failure(self) -> requests.RequestException | None:
        """What ended the exchange, if the deadline did; None when it was not cut (or was cancelled)."""
        if self.cut_by != DEADLINE:
            return None
        return AnswerDeadline(self.cut_after) if self.sent else ConnectDeadline(self.cut_after)

    # --- connecting ----------------------------------------------------------------------------------

    def connect(self, address: tuple[str, int], timeout: float | None, *, source_address: tuple[str, int] | None, socket_options: Sequence[tuple[int, int, Any]] | None) -> socket.socket:
        """urllib3's ``create_connection``, every step bounded by the exchange and ``timeout``, each socket watched before it connects."""
        host, port = address
        host = host.strip("[]") if host.startswith("[") else host
        try:
            host.encode("idna")
        except UnicodeError:
            raise LocationParseError(f"'{host}', label empty or too long") from None
        timeout = timeout if isinstance(timeout, (int, float)) else None  # urllib3's "default" sentinel: the exchange alone bounds it
        error: OSError | None = None
        limit = self.left() if timeout is None else min(timeout, self.left())
        for family, kind, proto, _, where in self._resolve(host, port, limit):
            sock = None
            try:
                sock = socket.socket(family, kind, proto)
                self.watch(sock)
                for option in socket_options or ():
                    sock.setsockopt(*option)
                if self.cut_by is not None:
                    raise ConnectionAbortedError("the exchange was cut")
                left = self.left() if timeout is None else min(timeout, self.left())
                sock.settimeout(max(left, 0.001))
                if source_address:
                    sock.bind(source_address)
                sock.connect(where)
                return sock
            except OSError as failed:
                error = failed
                if sock is not None:
                    self.forget(sock)
                    sock.close()
                if self.cut_by is not None:
                    break
        if error is not None:
            raise error
        raise OSError("getaddrinfo returns an empty list")

    def _resolve(self, host: str, port: int, limit: float) -> list[tuple[Any, ...]]:
        """``getaddrinfo`` in a helper thread, waited for at most ``limit`` seconds and never past a cut."""
        family = allowed_gai_family()
        try:
            ip_address(host.partition("%")[0])
        except ValueError:
            pass
        else:  # an address: nothing to look up, nothing that can hang
            return socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
        found: list[tuple[Any, ...]] = []
        failed: list[BaseException] = []
        done = threading.Event()

        def lookup() -> None:
            try:
                found.extend(socket.getaddrinfo(host, port, family, socket.SOCK_STREAM))
            except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
                failed.append(error)
            finally:
                done.set()

        threading.Thread(target=lookup, name="llmplan-resolve", daemon=True).start()
        gives_up = time.monotonic() + limit
        while not done.wait(min(CANCEL_POLL_SECONDS, max(gives_up - time.monotonic(), 0.0))):
            if self.cut_by is not None:
                raise ConnectionAbortedError("the exchange was cut while the host name was being looked up")
            if time.monotonic() >= gives_up:
                raise SocketTimeout(f"the host name {host} was not resolved within {limit:.1f} s")
        if failed:
            raise failed[0]
        return found


def current() -> Exchange | None:
    """The exchange the calling thread is in, if any."""
    return getattr(_local, "exchange", None)


_local = threading.local()


def _shut(sock: socket.socket, number: int) -> None:
    """Shut ``sock`` down for both directions; a blocked connect, send or receive on it returns at once.

    The socket's own ``shutdown`` method is bypassed (an SSLSocket's would
    drop its TLS state under a reading thread).  A socket the TLS wrapper
    took over has given up its descriptor (``fileno()`` is -1): it is then
    reached by number.  The exchange forgets its sockets when it ends, so
    a number is only used while the connection it names is still this
    exchange's.
    """
    try:
        if sock.fileno() != -1:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
            return
    except OSError:
        return  # closed meanwhile, or never connected: nothing to wake
    if number < 0:
        return
    try:
        alias = socket.socket(fileno=number)
    except OSError:
        return
    try:
        alias.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        alias.detach()


class _Watchdog:
    """One daemon thread for the process: cuts each exchange whose deadline has passed.

    It sleeps until the earliest deadline and ends when no exchange is out,
    so a process that sends nothing runs no thread.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, Exchange]] = []
        self._active: dict[int, Exchange] = {}
        self._keys: dict[int, int] = {}  # id(exchange) -> its key while out
        self._counter = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, exchange: Exchange) -> None:
        with self._condition:
            key = next(self._counter)
            self._active[key] = exchange
            self._keys[id(exchange)] = key
            heapq.heappush(self._heap, (exchange.deadline, key, exchange))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="llmplan-deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][1] == key:
                self._condition.notify()  # an earlier deadline than the one it sleeps for

    def remove(self, exchange: Exchange) -> None:
        with self._condition:
            key = self._keys.pop(id(exchange), None)
            if key is not None:
                self._active.pop(key, None)
            if len(self._heap) > 64 and len(self._heap) > 4 * len(self._active):
                self._heap = [entry for entry in self._heap if entry[1] in self._active]
                heapq.heapify(self._heap)

    def _run(self) -> None:
        while True:
            with self._condition:
                while self._heap and self._heap[0][1] not in self._active:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._thread = None
                    return
                deadline, key, exchange = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                heapq.heappop(self._heap)
                self._active.pop(key, None)
            exchange.cut(DEADLINE)


_WATCHDOG = _Watchdog()


class DeadlineConnection(HTTPConnection):
    """Mixed in before urllib3's HTTP(S)Connection: the socket is watched by the thread's exchange.

    Outside an exchange it behaves exactly as urllib3's own.
    """

    def _new_conn(self) -> socket.socket:
        exchange = current()
        if exchange is None:
            return super()._new_conn()
        # urllib3's own _new_conn, with create_connection replaced by the exchange's
        try:
            sock = exchange.connect((self._dns_host, self.port), self.timeout, source_address=self.source_address, socket_options=self.socket_options)
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error
        except SocketTimeout as error:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})") from error
        except OSError as error:
            raise NewConnectionError(self, f"Failed to establish a new connection: {error}") from error
        sys.audit("http.client.connect", self, self.host, self.port)
        return sock

    def send(self, data: Any) -> None:
        exchange = current()
        if exchange is not None:
            if self.sock is None and self.auto_open:
                self.connect()  # as http.client would inside send: connecting is not sending
            exchange.watch(self.sock)  # a pooled connection joins this exchange here
            exchange.sent = True
        super().send(data)

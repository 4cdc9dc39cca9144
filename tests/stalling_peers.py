"""Peers that misbehave on 127.0.0.1, for the deadline tests and ``benchmarks/stall_trials.py``.

Each is a small threaded socket server on an ephemeral loopback port,
stopped (every connection closed, every thread ended) when its ``with``
block ends:

- :func:`silent`: accepts every connection, reads, never answers;
- :func:`trickling`: answers ``200`` with ``Content-Length: 100000`` and
  then sends the body one byte every ``interval`` seconds
  (``headers_too``: the status line and headers as well);
- :func:`plain_http`: answers anything in plain HTTP (``400``), as a
  plain-HTTP server answers a TLS ClientHello;
- :func:`trickling_proxy`: forwards every request to a real server (the
  sandbox) and sends back its answer whole, except for the requests
  ``slow`` picks, whose answer it trickles: the gateway did the work, the
  client waits for an answer that never completes.

Every socket has a timeout and every wait watches the stop event, so
nothing outlives the test.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from contextlib import contextmanager
from typing import Callable, Iterator
from urllib.parse import urlsplit

POLL = 0.1
Handler = Callable[[socket.socket, threading.Event, "Peer"], None]


class Peer:
    """A listener on 127.0.0.1 that hands every connection to ``handler`` on a thread of its own.

    ``requests`` lists (method, path) of every request read; ``reached`` is set
    by the first one the peer stalls on (a test acts at that moment).
    """

    def __init__(self, handler: Handler, *, tls: ssl.SSLContext | None = None) -> None:
        self._handler = handler
        self._tls = tls
        self.requests: list[tuple[str, str]] = []
        self.reached = threading.Event()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(POLL)
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.accepted = 0
        self.port = int(self._listener.getsockname()[1])
        self._acceptor = threading.Thread(target=self._accept, name="stalling-peer", daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            connection.settimeout(POLL)
            thread = threading.Thread(target=self._serve, args=(connection,), name="stalling-peer-connection", daemon=True)
            with self._lock:
                self.accepted += 1
                self._connections.append(connection)
                self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        try:
            if self._tls is not None:
                connection.settimeout(5)
                connection = self._tls.wrap_socket(connection, server_side=True)
                connection.settimeout(POLL)
            self._handler(connection, self._stop, self)
        except OSError:
            pass  # the client gave up (what these peers are for) or the peer is stopping
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        self._acceptor.join(timeout=5)
        with self._lock:
            connections, threads = list(self._connections), list(self._threads)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(timeout=5)


@contextmanager
def running(handler: Handler, *, tls: ssl.SSLContext | None = None) -> Iterator[Peer]:
    peer = Peer(handler, tls=tls)
    try:
        yield peer
    finally:
        peer.stop()


def read_request(connection: socket.socket, stop: threading.Event, peer: Peer) -> tuple[str, str, dict[str, str], bytes] | None:
    """One HTTP/1.1 request (method, path, headers in lower case, body); None when the client closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = _recv(connection, stop)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = (lines[0].split(" ", 2) + ["", ""])[:3]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    while len(body) < length:
        chunk = _recv(connection, stop)
        if not chunk:
            return None
        body += chunk
    peer.requests.append((method, path))
    return method, path, headers, body


def _recv(connection: socket.socket, stop: threading.Event) -> bytes:
    while not stop.is_set():
        try:
            return connection.recv(65536)
        except (TimeoutError, socket.timeout):
            continue
    return b""


def _trickle(connection: socket.socket, data: bytes, interval: float, stop: threading.Event) -> None:
    for index in range(len(data)):
        if stop.wait(interval):
            return
        connection.sendall(data[index : index + 1])


def _silent(connection: socket.socket, stop: threading.Event, peer: Peer) -> None:
    peer.reached.set()
    while not stop.is_set() and _recv(connection, stop):
        pass
    stop.wait()  # the client closed its side: still no answer, until the peer stops


@contextmanager
def silent() -> Iterator[Peer]:
    """Accepts, reads, never answers (a TLS client waits for the server's handshake forever)."""
    with running(_silent) as peer:
        yield peer


LENGTH = 100_000


@contextmanager
def trickling(*, interval: float = 0.2, headers_too: bool = False, tls: ssl.SSLContext | None = None) -> Iterator[Peer]:
    """Answers every request with ``200`` and a 100,000-byte body sent one byte every ``interval`` s
    (over TLS with ``tls``, a server context)."""
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {LENGTH}\r\n\r\n".encode()

    def handle(connection: socket.socket, stop: threading.Event, peer: Peer) -> None:
        if read_request(connection, stop, peer) is None:
            return
        peer.reached.set()
        if headers_too:
            _trickle(connection, head, interval, stop)
        else:
            connection.sendall(head)
        _trickle(connection, b"{" + b" " * (LENGTH - 1), interval, stop)

    with running(handle, tls=tls) as peer:
        yield peer


@contextmanager
def plain_http() -> Iterator[Peer]:
    """Answers whatever arrives, even a TLS ClientHello, with a plain-HTTP 400, and closes."""

    def handle(connection: socket.socket, stop: threading.Event, peer: Peer) -> None:
        if _recv(connection, stop):
            peer.reached.set()
            connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    with running(handle) as peer:
        yield peer


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}


@contextmanager
def trickling_proxy(upstream: str, slow: Callable[[str, str], bool], *, interval: float = 0.2) -> Iterator[Peer]:
    """A keep-alive HTTP/1.1 proxy to ``upstream`` that trickles the answers of the requests ``slow(method, path)`` picks."""
    target = urlsplit(upstream)

    def handle(connection: socket.socket, stop: threading.Event, peer: Peer) -> None:
        while not stop.is_set():
            request = read_request(connection, stop, peer)
            if request is None:
                return
            method, path, headers, body = request
            forward = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port or 80, timeout=30)
            try:
                forward.request(method, path, body=body or None, headers={name: value for name, value in headers.items() if name not in HOP_BY_HOP})
                answer = forward.getresponse()
                content = answer.read()
                kept = [(name, value) for name, value in answer.getheaders() if name.lower() not in HOP_BY_HOP | {"content-length"}]
            finally:
                forward.close()
            head = f"HTTP/1.1 {answer.status} {answer.reason}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in kept)
            whole = (head + f"Content-Length: {len(content)}\r\n\r\n").encode("latin-1") + content
            if slow(method, path):
                peer.reached.set()
                _trickle(connection, whole, interval, stop)
                return
            connection.sendall(whole)

    with running(handle) as peer:
        yield peer


class TcpProxy:
    """Forwards bytes both ways between each client and ``upstream`` until :meth:`stall`: from then on
    it forwards nothing and answers nothing, yet keeps every connection open (a proxy or a network
    path that stops, while the kernel on this side still acknowledges every packet)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.stalled = threading.Event()
        self.trickling: float | None = None  # seconds between the bytes of every answer, once set

    def stall(self) -> None:
        self.stalled.set()

    def trickle(self, interval: float = 0.2) -> None:
        """From now on, send the server's answers one byte every ``interval`` seconds (no read ever times out)."""
        self.trickling = interval

    def handle(self, connection: socket.socket, stop: threading.Event, peer: Peer) -> None:
        server = socket.create_connection(self.upstream, timeout=5)
        server.settimeout(POLL)
        try:
            back = threading.Thread(target=self._pump, args=(server, connection, stop, True), name="tcp-proxy-back", daemon=True)
            back.start()
            self._pump(connection, server, stop, False)
            back.join(timeout=5)
        finally:
            server.close()

    def _pump(self, source: socket.socket, target: socket.socket, stop: threading.Event, answers: bool) -> None:
        while not stop.is_set():
            if self.stalled.is_set():
                stop.wait(POLL)
                continue
            try:
                data = source.recv(65536)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            if not data:
                try:
                    target.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            try:
                if answers and self.trickling is not None:
                    _trickle(target, data, self.trickling, stop)
                else:
                    target.sendall(data)
            except OSError:
                return


@contextmanager
def tcp_proxy(host: str, port: int) -> Iterator[tuple[Peer, TcpProxy]]:
    """A TCP proxy on 127.0.0.1 in front of ``host:port`` that a test can :meth:`~TcpProxy.stall`."""
    proxy = TcpProxy((host, port))
    with running(proxy.handle) as peer:
        yield peer, proxy

"""The sandbox's HTTP server and :func:`start_sandbox`, its in-process entry point.

A ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive: one daemon
thread per connection, each answer written in one ``send`` with an exact
``Content-Length`` and Nagle off, so a client reusing its connection gets
well over a thousand small answers a second.  The handler only moves bytes;
what the answers are is decided by :class:`~planner.sandbox.app.SandboxApp`.
"""

from __future__ import annotations

import logging
import selectors
import socket
import socketserver
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any, Callable, Mapping

from planner.model.catalog import DEMO_MODELS, generated_models
from planner.model.printable import printable
from planner.sandbox.answers import ApiError, Response
from planner.sandbox.app import MAX_BODY_BYTES, Request, SandboxApp
from planner.sandbox.errors import SandboxError
from planner.sandbox.faults import FaultSettings, InvalidFaults
from planner.sandbox.routing import route_of, short
from planner.sandbox.store import ModelStore
from planner.sandbox.tokens import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ClientSpec, TokenIssuer, default_clients
from planner.sandbox.webhook import WebhookVerifier

logger = logging.getLogger("llmplan.sandbox")

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "RunningSandbox", "start_sandbox"]

# How long a connection may sit idle or dribble a request before it is closed
# (long enough that a pooled client rarely races the close).
CONNECTION_TIMEOUT_SECONDS = 120.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "llmplan-sandbox"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = CONNECTION_TIMEOUT_SECONDS
    server: "_Server"

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        body, body_error = self._read_body()
        request = Request(
            method=self.command,
            path=path,
            query=query,
            headers=tuple(self.headers.items()),
            body=body,
            client_host=self.client_address[0],
            body_error=body_error,
        )
        self._send(self.server.app.handle(request))

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def _read_body(self) -> tuple[bytes, ApiError | None]:
        if self.headers.get("Transfer-Encoding"):
            return b"", ApiError(411, "chunked request bodies are not supported; send a Content-Length", close=True)
        lengths = self.headers.get_all("Content-Length") or []
        if len(set(lengths)) > 1:
            return b"", ApiError(400, "conflicting Content-Length headers", close=True)
        length_header = lengths[0] if lengths else None
        if length_header is None:
            return b"", None
        length_text = length_header.strip()
        if not (length_text.isascii() and length_text.isdigit()) or len(length_text) > 15:
            return b"", ApiError(400, "the Content-Length header is not a number", close=True)
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            return b"", ApiError(
                413, f"the request body of {length} bytes is over the limit of {MAX_BODY_BYTES} bytes (1 MiB)", close=True
            )
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            return body, ApiError(400, "the request body ended before Content-Length bytes", close=True)
        return body, None

    def _send(self, response: Response) -> None:
        stopping = self.server.stopping
        if response.delay > 0:
            stopping.wait(response.delay)
        if response.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._log(0, response)
            return
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Error"
        lines = [
            f"HTTP/1.1 {response.status} {reason}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string()}",
        ]
        if response.content_type:
            lines.append(f"Content-Type: {response.content_type}")
        lines.append(f"Content-Length: {len(response.body)}")
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        if response.close or self.close_connection:
            self.close_connection = True
            lines.append("Connection: close")
        elif self.request_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        body = b"" if self.command == "HEAD" else response.body
        if response.body_delay > 0:
            self.wfile.write(head)
            self.wfile.flush()
            stopping.wait(response.body_delay)
            self.wfile.write(body)
        else:
            self.wfile.write(head + body)
        self._log(response.status, response)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, URI or headers too
        long, unknown method) get the Genesys JSON body, not HTML."""
        self.close_connection = True
        raw_path = getattr(self, "path", "") or ""
        path = raw_path.partition("?")[0]
        headers: tuple[tuple[str, str], ...] = ()
        if code == HTTPStatus.NOT_IMPLEMENTED:  # a method no endpoint has (TRACE, BREW…): 405 with Allow
            code = HTTPStatus.METHOD_NOT_ALLOWED
            message = f"method {self.command!r} is not supported"
            route = route_of(path)
            if route is None:
                code, message = HTTPStatus.NOT_FOUND, f"no such endpoint: {self.command} {short(path)}"
            else:
                headers = (("Allow", route.allow),)
        text = message or explain or HTTPStatus(code).phrase
        error = ApiError(code, text, close=True, headers=headers)
        response = self.server.app.protocol_error(error, self.command or "", path)
        try:
            self._send(response)
        except OSError:
            pass

    def _log(self, status: int, response: Response) -> None:
        if self.server.verbose:
            shown = str(response.status) if not response.drop else "dropped" if response.status == 0 else f"{response.status} answer lost"
            sys.stderr.write(printable(f"{self.address_string()} {self.command} {self.path[:200]} {shown}") + "\n")  # a client's path

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: SandboxApp, *, verbose: bool, family: int) -> None:
        self.address_family = family
        self.app = app
        self.verbose = verbose
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._wake_reader, self._wake_writer = socket.socketpair()
        try:
            super().__init__(address, _Handler)
        except BaseException:
            self._wake_reader.close()
            self._wake_writer.close()
            raise

    def serve_until_stopped(self) -> None:
        """Accept connections until :meth:`wake_to_stop`; unlike serve_forever
        it does not poll, so stopping takes no poll interval."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self.stopping.is_set():
                ready = selector.select()
                if self.stopping.is_set():
                    break
                if any(key.fileobj is self.socket for key, _ in ready):
                    self._handle_request_noblock()  # type: ignore[attr-defined]  # BaseServer's accept-and-dispatch

    def wake_to_stop(self) -> None:
        self.stopping.set()
        try:
            self._wake_writer.send(b"x")
        except OSError:
            pass

    def server_close(self) -> None:
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), which can
        # take seconds; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            open_connections = list(self._connections)
        for connection in open_connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return  # a client went away; nothing to fix
        logger.exception("sandbox connection from %s failed", client_address)


class RunningSandbox:
    """A sandbox serving on a background thread; stop it with :meth:`stop`
    or by leaving a ``with`` block."""

    def __init__(self, server: _Server, thread: threading.Thread, app: SandboxApp) -> None:
        self._server = server
        self._thread = thread
        self.app = app
        host, port = server.server_address[:2]
        self.host = str(host)
        self.port = int(port)
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{shown}:{self.port}"
        self._stopped = False
        self._stop_lock = threading.Lock()

    def stop(self) -> None:
        """Stop serving, close every connection, join the thread; safe to call twice."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        self._server.wake_to_stop()
        self._thread.join(timeout=10)
        self._server.server_close()
        self._server.close_connections()

    @property
    def stopped(self) -> bool:
        return self._stopped

    def __enter__(self) -> "RunningSandbox":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningSandbox(url={self.url!r}, stopped={self._stopped})"


def is_loopback_host(host: str) -> bool:
    """True when every address ``host`` names is a loopback address."""
    try:
        return ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ip_address(str(info[4][0]).split("%", 1)[0]).is_loopback for info in infos)


def start_sandbox(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    extra_models: int = 0,
    data_file: Path | None = None,
    rate_limit: int = 300,
    rate_window_seconds: float = 60.0,
    latency_ms: float = 0.0,
    token_lifetime_seconds: int = 86_400,
    seed: int = 0,
    catalog: bool = True,
    clients: Mapping[str, ClientSpec] | None = None,
    latency_jitter_ms: float = 0.0,
    faults: Mapping[str, Any] | None = None,
    clock: Callable[[], float] | None = None,
    wall_clock: Callable[[], float] | None = None,
    allow_remote: bool = False,
    verbose: bool = False,
    webhook_secret: str | None = None,
) -> RunningSandbox:
    """Start a sandbox gateway on a daemon thread and return once it accepts connections.

    ``port=0`` picks a free port (see ``.url``).  ``extra_models`` adds that
    many generated models (``planner.model.catalog.generated_models``) to the demo
    catalog (``catalog=False`` leaves it out).  ``data_file`` keeps models
    and configurations across restarts.  The rate limit, latency, token
    lifetime and seed are the fault settings' start values, which
    ``DELETE /__sandbox/faults`` returns to; ``faults`` (the body of
    ``POST /__sandbox/faults``) adds start-up rules.  ``clock`` (monotonic
    seconds) drives token expiry and rate windows, and ``wall_clock`` (POSIX
    seconds) the age of a webhook delivery's timestamp, for tests that set time.
    A non-loopback ``host`` is refused unless ``allow_remote``.
    ``webhook_secret`` (as ``governance.secret_env`` holds it) makes the
    webhook receiver verify each delivery's signature (``planner.sandbox.webhook``).

    Raises :class:`~planner.sandbox.errors.SandboxError` (a bad option or
    address) or :class:`~planner.sandbox.errors.SandboxDataError` (an
    unreadable data file).
    """
    if not allow_remote and not is_loopback_host(host):
        raise SandboxError(
            f"refusing to serve the sandbox on {host}: it is not a loopback address and the sandbox has no real security",
            hint="use --host 127.0.0.1, or pass --allow-remote if you really mean to expose it",
        )
    if extra_models < 0:
        raise SandboxError(f"extra_models must be 0 or more, not {extra_models}")
    start_values = {
        "seed": seed,
        "latency_ms": latency_ms,
        "latency_jitter_ms": latency_jitter_ms,
        "rate_limit": {"requests": rate_limit, "window_seconds": rate_window_seconds},
        "token_lifetime_seconds": token_lifetime_seconds,
    }
    try:
        defaults = FaultSettings().updated(start_values)
        if faults:
            defaults = defaults.updated(dict(faults))
    except InvalidFaults as invalid:
        raise SandboxError(f"invalid sandbox settings: {invalid}") from None

    webhook = WebhookVerifier.from_secret(webhook_secret)
    store = ModelStore(Path(data_file) if data_file is not None else None)
    seeds = [*(DEMO_MODELS if catalog else ()), *generated_models(extra_models)]
    store.open(seeds)
    tick = clock or time.monotonic
    app = SandboxApp(
        store=store,
        issuer=TokenIssuer(clients if clients is not None else default_clients(), tick),
        defaults=defaults,
        clock=tick,
        webhook=webhook,
        wall_clock=wall_clock or time.time,
    )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        server = _Server((host, port), app, verbose=verbose, family=family)
    except OSError as error:
        raise SandboxError(f"cannot listen on {host}:{port}: {error.strerror or error}") from error
    running_thread = threading.Thread(target=server.serve_until_stopped, name=f"llmplan-sandbox-{server.server_address[1]}", daemon=True)
    sandbox = RunningSandbox(server, running_thread, app)
    app.base_url = sandbox.url
    running_thread.start()
    return sandbox

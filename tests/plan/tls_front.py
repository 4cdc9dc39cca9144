"""An HTTPS front for the sandbox at ``https://0.0.0.0:PORT``: a gateway that is
neither loopback by llmplan's rules nor on the region map, yet reached only
over loopback (on Linux a connection to 0.0.0.0 goes to the local host).

It terminates TLS with a throw-away certificate for IP 0.0.0.0 (made by the
``openssl`` command; ``REQUESTS_CA_BUNDLE`` points llmplan at it), forwards
the bytes to the sandbox, and counts the connections it accepts, so a test
can show that a refused gateway was never contacted, and that an allowed
one was. Every socket has a timeout; :meth:`TlsFront.stop` ends it all.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from pathlib import Path

ADDRESS = "0.0.0.0"


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for IP 0.0.0.0 and its key, valid for a day."""
    certificate, key = folder / "front.pem", folder / "front.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
         "-subj", "/CN=llmplan test gateway", "-addext", f"subjectAltName=IP:{ADDRESS}", "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True, timeout=60,
    )
    return certificate, key


class TlsFront:
    def __init__(self, target_port: int, certificate: Path, key: Path) -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(certificate, key)
        self._target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.url = f"https://{ADDRESS}:{self.port}"
        self.connections = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._start(self._accept)

    def _start(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:  # the poll's timeout, or stop() shutting the listener down
                continue
            self.connections += 1
            self._start(self._serve, connection)

    def _serve(self, connection: socket.socket) -> None:
        connection.settimeout(10)
        try:
            client = self._context.wrap_socket(connection, server_side=True)
            upstream = socket.create_connection(("127.0.0.1", self._target_port), timeout=10)
        except (OSError, ssl.SSLError):
            connection.close()
            return
        self._start(_pump, upstream, client)
        _pump(client, upstream)

    def stop(self) -> None:
        self._stop.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread at once on Linux
        except OSError:
            pass
        self._threads[0].join(timeout=15)  # the accepting thread, which polls the flag
        self._listener.close()
        for thread in self._threads[1:]:
            thread.join(timeout=15)


def _pump(source: socket.socket, target: socket.socket) -> None:
    """Copy until either side closes or stays silent for the timeout, then close both.

    Both are shut down before they are closed: that wakes the other direction's
    thread, blocked in ``recv`` on one of them (a close alone would leave it
    there until its 10 s timeout, and stop() waiting for it)."""
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        for side in (source, target):
            try:
                side.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                side.close()
            except OSError:
                pass

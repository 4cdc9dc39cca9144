"""A real PostgreSQL server for the tests and benchmarks, started from nothing in a temp folder.

Debian's binaries (``/usr/lib/postgresql/<version>/bin``) are used when the
machine has them; otherwise those of the ``pgserver`` wheel (a test extra, so
``make test`` on a fresh machine brings its own). PostgreSQL refuses to run
as root, and tests and CI run as root: the server runs as the unprivileged
``postgres`` user (``nobody`` where there is none) through ``runuser``.

It listens on 127.0.0.1 only, on a free port, with password (SCRAM)
authentication for TCP, so the DSN the tests use carries a password that
must never show up anywhere. :meth:`PostgresServer.stop` (or the end of
the ``with`` block) stops it and removes its folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

PASSWORD = "pg-canary-Xq7-secret"  # a canary: no output, log or file may ever contain it
USER = "llmplan"
DATABASE = "llmplan"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries on this machine and no pgserver wheel installed."""


def binaries() -> Path:
    """The folder holding initdb, pg_ctl and postgres."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists() and Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    try:
        import pgserver  # type: ignore[import-not-found]

        bundled = Path(pgserver.__file__).parent / "pginstall" / "bin"
        if (bundled / "initdb").exists():
            return bundled
    except ImportError:
        pass
    raise PostgresUnavailable(
        "no PostgreSQL server binaries: install Debian's postgresql package, or the test extra "
        "(pip install -e '.[test]' brings the pgserver wheel)"
    )


def _service_user() -> str:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise PostgresUnavailable("no unprivileged user (postgres or nobody) to run the server as")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    """A running server: its port, folder and a DSN with the test role's password."""

    folder: Path
    port: int
    bin: Path
    user: str

    @property
    def dsn(self) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}?connect_timeout=10"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _as_service(self, *argv: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = list(argv)
        if os.geteuid() == 0:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=check, cwd="/")

    def start(self) -> None:
        log = self.folder / "server.log"
        self._as_service(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "-t", "60", "start",
                         "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=on")

    def stop(self, mode: str = "fast") -> None:
        self._as_service(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def restart(self) -> None:
        """Stop and start again (every client connection is cut), as a database restart does."""
        self.stop("fast")
        self.start()

    def psql(self, sql: str) -> str:
        """Run SQL as the superuser over the local socket (for the tests' own checks and tampering)."""
        return self.psql_in(DATABASE, sql)

    def psql_in(self, database: str, sql: str) -> str:
        """Run SQL as the superuser in another database of this server."""
        done = self._as_service(str(self.bin / "psql"), "-h", str(self.folder), "-p", str(self.port), "-d", database,
                                "-v", "ON_ERROR_STOP=1", "-At", "-c", sql)
        return done.stdout


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A fresh server for the block: initdb, start, a password role and database; stopped and removed after."""
    folder = Path(tempfile.mkdtemp(prefix="llmplan-pg-"))
    user = _service_user()
    bin_dir = binaries()
    shutil.chown(folder, user)
    os.chmod(folder, 0o700)
    server = PostgresServer(folder, free_port(), bin_dir, user)
    try:
        password_file = folder / "superuser.pw"
        password_file.write_text("unused-superuser-password\n")
        shutil.chown(password_file, user)
        server._as_service(str(bin_dir / "initdb"), "-D", str(server.data), "-U", user, "--auth-local=trust",
                           "--auth-host=scram-sha-256", f"--pwfile={password_file}", "-E", "UTF8", "--no-instructions",
                           "--no-sync")  # a throwaway cluster: initdb's final fsync of every file took 1-3 s of each start
        server.start()
        server._as_service(str(bin_dir / "psql"), "-h", str(folder), "-p", str(server.port), "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q",
                           "-c", f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'", "-c", f"CREATE DATABASE {DATABASE} OWNER {USER}")
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)

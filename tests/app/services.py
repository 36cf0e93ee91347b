"""Real backing services for the microblog tests: PostgreSQL and memcached on loopback.

Each runs in the foreground as a child we started, on a free 127.0.0.1 port, and is stopped
by its PID (see ``stop``). Both come from Debian packages that scripts/bootstrap.sh installs.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.app.microblog_helpers import free_port

# PostgreSQL refuses to run as root; Debian's package creates this user for it.
PG_USER_AS_ROOT = "postgres"


def postgres_bindir() -> Path | None:
    """Debian keeps the server binaries (initdb, postgres) off PATH, in a versioned folder."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def memcached_binary() -> str | None:
    return shutil.which("memcached")


@dataclass
class Service:
    """A server process we started, with the folder it owns."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    folder: Path
    log_path: Path
    # SIGINT ends memcached; for PostgreSQL it would be a "fast" shutdown that still writes a
    # checkpoint, and its data here is thrown away anyway, so it gets SIGQUIT ("immediate").
    stop_signal: signal.Signals = signal.SIGINT

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.folder, ignore_errors=True)


def wait_for_port(service: Service, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.name} exited early:\n{service.log()}")
        try:
            with socket.create_connection(("127.0.0.1", service.port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    service.stop()
    raise RuntimeError(f"{service.name} did not start:\n{service.log()}")


def _run_as() -> dict[str, str]:
    return {"user": PG_USER_AS_ROOT, "group": PG_USER_AS_ROOT} if os.geteuid() == 0 else {}


@dataclass
class Postgres(Service):
    @property
    def admin_url(self) -> str:
        return f"postgresql://microblog@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://microblog@127.0.0.1:{self.port}/{name}"


def start_postgres() -> Postgres:
    bindir = postgres_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    # Not under pytest's tmp_path: that is private to root, and the server runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="microblog-pg-"))
    data = folder / "data"
    log_path = folder / "postgres.log"
    run_as = _run_as()
    if run_as:
        shutil.chown(folder, run_as["user"], run_as["group"])
    subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "microblog",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
        **run_as,
    )
    port = free_port()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-k",
                str(folder),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **run_as,
        )
    server = Postgres("postgres", process, port, folder, log_path, signal.SIGQUIT)
    wait_for_port(server)
    _wait_accepting(server)
    return server


def _wait_accepting(server: Postgres, timeout: float = 30.0) -> None:
    """The port opens a moment before the server takes logins."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(server.admin_url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                server.stop()
                raise
            time.sleep(0.1)


def start_memcached() -> Service:
    binary = memcached_binary()
    if binary is None:
        raise RuntimeError("memcached is not installed (apt-get install memcached)")
    folder = Path(tempfile.mkdtemp(prefix="microblog-memcached-"))
    log_path = folder / "memcached.log"
    port = free_port()
    cmd = [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "16", "-t", "2"]
    if os.geteuid() == 0:
        cmd += ["-u", "nobody"]  # memcached will not run as root
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Service("memcached", process, port, folder, log_path)
    wait_for_port(server)
    return server

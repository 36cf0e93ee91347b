"""Moto servers forked from one process that imported moto once.

A new interpreter that imports moto spends about 1.1 CPU-s before it serves, and a test run
starts dozens of throwaway servers. A process that starts them (`motoserver.start_ephemeral`)
runs one forker: `python -m vpclab.localcloud.motofork`, which imports `moto_main` and then,
for each request on its stdin (a JSON line: port, log, environment), forks a server and
answers with its PID. The forker reaps its servers; when its stdin closes (the process that
started it ended), it stops the servers still running and exits.

Not for the lab's shared server: that one outlives the process that starts it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from vpclab.localcloud.orphans import AdoptedProcess, ProcRef


class Forker:
    """This process' forker, started on first use (see the module's docstring)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.proc: subprocess.Popen | None = None
        self.owner = 0  # the PID that started it: a forked child of ours needs its own
        self.settings: dict[str, str] = {}

    def fits(self, env: dict[str, str]) -> bool:
        """moto reads some settings (MOTO_*) as it is imported: a server that wants others
        than the forker imported moto with needs a new interpreter."""
        return self.proc is None or self.owner != os.getpid() or self.settings == _settings(env)

    def fork(self, port: int, log: Path, env: dict[str, str]) -> AdoptedProcess | None:
        """A server on 127.0.0.1:port forked with this environment, as a handle known by PID
        and start time (the forker's child, not ours); None when no forker answers or the
        server is gone already (the caller starts a new interpreter instead)."""
        with self.lock:
            if self.proc is None or self.owner != os.getpid() or self.proc.poll() is not None:
                self._start(env)
            assert self.proc is not None and self.proc.stdin and self.proc.stdout
            request = {"port": port, "log": str(log), "env": env, "cwd": _cwd()}
            try:
                self.proc.stdin.write(json.dumps(request) + "\n")
                self.proc.stdin.flush()
                answer = self.proc.stdout.readline()
            except OSError:
                return None
            ref = ProcRef.of(int(answer)) if answer.strip().isdigit() else None
            return AdoptedProcess(ref) if ref else None

    def _start(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        self.owner = os.getpid()
        self.settings = _settings(env)


def _cwd() -> str:
    try:
        return os.getcwd()
    except OSError:  # removed under us: a new process would start there all the same
        return "/"


def _settings(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("MOTO_")}


def _serve(request: dict) -> None:
    """In a forked child: the requester's environment, stdin from /dev/null, stdout and
    stderr to the log (what a new process gets from `motoserver._launch`), then moto_main."""
    from vpclab.localcloud import moto_main

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(request["env"])
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for fd, to in ((null, 0), (out, 1), (out, 2)):
        os.dup2(fd, to)
    os.close(null)
    os.close(out)
    with contextlib.suppress(OSError):  # gone since: the forker's folder will do
        os.chdir(request["cwd"])
    moto_main.main(["-H", "127.0.0.1", "-p", str(request["port"])])


# The services a lab calls: their models are loaded once, in the forker (see `main`).
SERVICES = ("ec2", "ssm", "iam", "sts")


def _warm() -> None:
    """What each server would work out on its first requests and then keep for good, worked
    out once here: a service's botocore model (EC2's is 0.3 CPU-s), the regions moto makes
    backends for, and the IAM policy checker's module. Caches of the process, not state of
    a cloud: a forked server still makes its clouds from its own seed."""
    import moto.iam.access_control  # noqa: F401
    from moto.core.base_backend import AccountSpecificBackend
    from moto.core.utils import get_service_model

    session = AccountSpecificBackend.get_session()
    for service in SERVICES:
        get_service_model(service)
        for partition in session.get_available_partitions():
            session.get_available_regions(service, partition_name=partition)


def main() -> None:
    from vpclab.localcloud import moto_main  # noqa: F401 - the import every server shares

    _warm()

    servers: set[int] = set()

    def reap(_signum: int, _frame: object) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            servers.discard(pid)

    signal.signal(signal.SIGCHLD, reap)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                _serve(request)
            finally:
                os._exit(1)
        servers.add(pid)
        print(pid, flush=True)
    for pid in list(servers):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


if __name__ == "__main__":
    main()

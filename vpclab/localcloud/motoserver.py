"""One moto server on 127.0.0.1, shared by every process (CLI, notebook kernels, tests).

It is started detached and recorded in the state folder, so the next process reuses it.
moto's recorder keeps a log of every request that changed something (see `moto_main`); a
restart replays it, so the lab survives `vpclab local stop` / `start`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from vpclab.errors import VpclabError


@dataclass(frozen=True)
class MotoServer:
    pid: int
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _record_file(local_dir: Path) -> Path:
    return local_dir / "moto.json"


def _recording(local_dir: Path) -> Path:
    return local_dir / "moto-recording.jsonl"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:  # reap it if it is our own exited child, else it lingers as a zombie
        if os.waitpid(pid, os.WNOHANG)[0]:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(endpoint: str, timeout: float = 1.0) -> bool:
    # A TCP connect, not an HTTP call: a busy server with a big state must not look dead.
    port = int(endpoint.rsplit(":", 1)[1])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def status(local_dir: Path) -> MotoServer | None:
    """The running server recorded in the state folder, or None."""
    try:
        data = json.loads(_record_file(local_dir).read_text())
        server = MotoServer(pid=int(data["pid"]), port=int(data["port"]))
    except (OSError, ValueError, KeyError):
        return None
    if _alive(server.pid) and _answers(server.endpoint):
        return server
    return None


def start(local_dir: Path) -> MotoServer:
    """Start the shared server (or return the running one), replaying any earlier recording."""
    running = status(local_dir)
    if running:
        return running
    local_dir.mkdir(parents=True, exist_ok=True)
    recording = _recording(local_dir)
    replay = recording.exists() and recording.stat().st_size > 0
    previous = _previous_port(local_dir)
    # A replay sends each request to the recorded URL, so reuse the recorded port when free.
    port = previous if previous and _port_free(previous) else _free_port()
    env = dict(os.environ)
    env.update(MOTO_ENABLE_RECORDING="true", MOTO_RECORDER_FILEPATH=str(recording))
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(key, None)
    with open(local_dir / "moto.log", "ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vpclab.localcloud.moto_main",
                "-H",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # outlives this process: it is shared
        )
    server = MotoServer(pid=proc.pid, port=port)
    deadline = time.monotonic() + 30
    while not _answers(server.endpoint, 0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            raise VpclabError(
                "the local moto server did not start", f"see {local_dir / 'moto.log'}"
            )
        time.sleep(0.1)
    if replay and previous == port:
        req = urllib.request.Request(
            f"{server.endpoint}/moto-api/recorder/replay-recording", data=b"", method="POST"
        )
        urllib.request.urlopen(req, timeout=120).close()
    elif replay:  # recorded against another port: it cannot be replayed faithfully
        recording.rename(recording.with_suffix(".stale"))
    _record_file(local_dir).write_text(json.dumps({"pid": server.pid, "port": port}))
    return server


def _previous_port(local_dir: Path) -> int | None:
    try:
        return int(json.loads(_record_file(local_dir).read_text())["port"])
    except (OSError, ValueError, KeyError):
        return None


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def stop(local_dir: Path) -> bool:
    """Stop the recorded server by its PID. Its recording stays, for the next start."""
    server = status(local_dir)
    if server is None:
        return False
    os.kill(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _alive(server.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(server.pid):
        os.kill(server.pid, signal.SIGKILL)
    return True


def forget(local_dir: Path) -> None:
    """Drop the recording: the next start is a fresh, empty cloud."""
    for path in (_recording(local_dir), _record_file(local_dir)):
        path.unlink(missing_ok=True)

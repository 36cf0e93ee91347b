"""One moto server on 127.0.0.1, shared by every process (CLI, notebook kernels, tests).

It is started detached and recorded in the state folder, so the next process reuses it.
moto's recorder keeps a log of every request that changed something (see `moto_main`); a
restart replays it, so the lab survives `vpclab local stop` / `start`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vpclab.errors import VpclabError
from vpclab.localcloud import ports, procfs, recording
from vpclab.localcloud.motofork import Forker
from vpclab.localcloud.orphans import AdoptedProcess

# Variables that could steer a server (or a kernel started beside it) at a real account.
DROPPED_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
# Which AMIs the server loads (see `moto_main`): "classic", or "all" to replay a recording
# made before the regional catalogues were left out (the ids it replays depend on them).
AMIS_ENV = "VPCLAB_MOTO_AMIS"
NEW_AMIS = "classic"  # what a new recording is made with


@dataclass(frozen=True)
class MotoServer:
    pid: int
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class EphemeralServer:
    """A moto server of one test, benchmark or notebook run: see `ephemeral`."""

    proc: subprocess.Popen | AdoptedProcess
    port: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(self, path: str) -> None:
        request = urllib.request.Request(f"{self.endpoint}{path}", data=b"", method="POST")
        urllib.request.urlopen(request, timeout=30).close()

    def reset(self) -> None:
        """Wipe the state: a fresh, empty cloud."""
        self.post("/moto-api/reset")

    def seed(self, value: int) -> None:
        """Make the ids that follow deterministic (on a fresh server)."""
        self.post(f"/moto-api/seed?a={value}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def ephemeral(
    seed: int | None = None, log: Path | None = None, patched: bool = True
) -> Iterator[EphemeralServer]:
    """A throwaway moto server on a free loopback port, stopped (by its PID) on exit.

    It runs `moto_main`, with the local target's patches; `patched=False` runs plain moto
    instead, as an external `AWS_ENDPOINT_URL` would. `seed` seeds it for deterministic ids.
    """
    server = start_ephemeral(seed, log, patched)
    try:
        yield server
    finally:
        server.stop()


def start_ephemeral(
    seed: int | None = None, log: Path | None = None, patched: bool = True
) -> EphemeralServer:
    """`ephemeral` for a caller that stops the server itself (`EphemeralServer.stop`).
    A patched server is forked from this process' forker (`motofork`), which imported moto
    once; plain moto, or a forker that cannot serve, gets a new interpreter."""
    port = ports.free_port()
    log = log or Path(os.devnull)
    proc = _fork(port, log) if patched else None
    if proc is None:
        module = "vpclab.localcloud.moto_main" if patched else "moto.server"
        proc = _launch(port, log, {}, detached=False, module=module)
    server = EphemeralServer(proc=proc, port=port)
    if seed is not None:
        try:
            server.seed(seed)
        except Exception:
            server.stop()
            raise
    return server


def mutations(endpoint: str, timeout: float = 1.0) -> int | None:
    """How many changes the control plane has applied, or None when it does not count them
    (plain moto, or no answer)."""
    try:
        url = f"{endpoint.rstrip('/')}/vpclab-api/mutations"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(json.loads(response.read())["mutations"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _record_file(local_dir: Path) -> Path:
    return local_dir / "moto.json"


def _recording(local_dir: Path) -> Path:
    return local_dir / "moto-recording.jsonl"


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
    return ports.answers(int(endpoint.rsplit(":", 1)[1]), timeout)


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
    record = _recording(local_dir)
    _keep_private(local_dir, record)
    key = recording.key_path(local_dir)
    recording.prepare(record, key)  # every line opens with the key; older ones get sealed
    previous = _previous(local_dir)
    # A replay sends each request to the recorded URL, so reuse the recorded port when free.
    port = previous.port if previous and ports.port_free(previous.port) else ports.free_port()
    replay = record.stat().st_size > 0
    if replay and (previous is None or previous.port != port):
        # Recorded against another port: it cannot be replayed faithfully.
        record.rename(record.with_suffix(".stale"))
        _keep_private(local_dir, record)
        replay = False
    amis = previous.amis if replay and previous else NEW_AMIS
    env = {
        "MOTO_ENABLE_RECORDING": "true",
        "MOTO_RECORDER_FILEPATH": str(record),
        recording.KEY_ENV: str(key),
        AMIS_ENV: amis,
    }
    proc = _launch(port, local_dir / "moto.log", env, detached=True)  # shared: outlives us
    server = MotoServer(pid=proc.pid, port=port)
    if replay:
        req = urllib.request.Request(
            f"{server.endpoint}/moto-api/recorder/replay-recording", data=b"", method="POST"
        )
        urllib.request.urlopen(req, timeout=120).close()
    record_of = {"pid": server.pid, "port": port, "amis": amis}
    _record_file(local_dir).write_text(json.dumps(record_of))
    return server


def _keep_private(local_dir: Path, record: Path) -> None:
    """The recording replays every change, secrets' values included (SSM PutParameter),
    sealed (`recording`), and is 0600 in a 0700 folder, made so before moto appends to it."""
    local_dir.chmod(0o700)
    os.close(os.open(record, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    record.chmod(0o600)


_FORKER = Forker()


def _fork(port: int, log: Path) -> AdoptedProcess | None:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    if not _FORKER.fits(env):
        return None
    forked = _FORKER.fork(port, log, env)
    if forked is not None:
        _wait_until_listening(forked, port, log)
    return forked


def _wait_until_listening(proc: subprocess.Popen | AdoptedProcess, port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    # Ours must hold the listener: another process may have taken the port once it was freed.
    while not (ports.answers(port, 0.5) and procfs.holds_listener(proc.pid, port)):
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            raise VpclabError("the local moto server did not start", f"see {log}")
        time.sleep(0.05)


def _launch(
    port: int,
    log: Path,
    env: dict[str, str],
    detached: bool,
    module: str = "vpclab.localcloud.moto_main",
) -> subprocess.Popen:
    """Run `moto_main` (moto with our patches) on 127.0.0.1:port; return once it answers."""
    full = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    full.update(env)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full,
            start_new_session=detached,
        )
    _wait_until_listening(proc, port, log)
    return proc


@dataclass(frozen=True)
class _Previous:
    port: int
    amis: str  # the AMIs its recording was made with


def _previous(local_dir: Path) -> _Previous | None:
    """The last server's port and AMIs; "all" for a server from before `AMIS_ENV`."""
    try:
        last = json.loads(_record_file(local_dir).read_text())
        return _Previous(int(last["port"]), str(last.get("amis", "all")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


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
    """Drop the recording and its key: the next start is a fresh, empty cloud."""
    record = _recording(local_dir)
    for path in (record, record.with_suffix(".stale"), _record_file(local_dir)):
        path.unlink(missing_ok=True)
    recording.forget(local_dir)

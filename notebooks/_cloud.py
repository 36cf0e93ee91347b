"""A throwaway control plane for running the notebooks: one moto server on 127.0.0.1 and the
environment every notebook kernel inherits. Used by `conftest.py` (the nbval run) and
`refresh.py` (which stores the reference outputs), so both run the notebooks the same way.

Not a notebook: the notebooks are the `NN_name.py` files beside it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
SANITIZE = HERE / "nbval_sanitize.cfg"
SEED = 4242  # a fresh, seeded server gives the same ids on every run
NOTEBOOK_GLOB = "[0-9][0-9]_*.py"
# Variables that could steer a kernel away from the throwaway server (or at a real account).
DROPPED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


def notebook_sources() -> list[Path]:
    """The notebooks' jupytext sources, in the order they run (zero-padded names)."""
    return sorted(HERE.glob(NOTEBOOK_GLOB))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5):
            return True
    except (urllib.error.URLError, OSError):
        return False


class NotebookCloud:
    """Start with `start()`, stop with `stop()`: a seeded moto server, a fresh state folder
    (key pairs land there, 0600) and the environment that points kernels at both."""

    def __init__(self) -> None:
        self.tmp: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self._saved: dict[str, str | None] = {}

    @property
    def endpoint(self) -> str:
        assert self.port, "not started"
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> NotebookCloud:
        self.tmp = Path(tempfile.mkdtemp(prefix="vpclab-notebooks-"))
        self.port = _free_port()
        log = open(self.tmp / "moto.log", "wb")  # noqa: SIM115 - handed to the child
        env = {k: v for k, v in os.environ.items() if k not in DROPPED + ("AWS_ENDPOINT_URL",)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        log.close()
        deadline = time.monotonic() + 30
        while not _answers(f"{self.endpoint}/moto-api/data.json"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                detail = (self.tmp / "moto.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"the notebooks' moto server did not start:\n{detail}")
            time.sleep(0.1)
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/seed?a={SEED}", data=b"", method="POST"
        )
        with urllib.request.urlopen(request, timeout=30):
            pass
        self._export()
        return self

    def environment(self) -> dict[str, str]:
        state = self.tmp / "state"
        state.mkdir(mode=0o700, exist_ok=True)
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "VPCLAB_STATE": str(state),
            "VPCLAB_TARGET": "local",  # never a real account, whatever the caller's shell says
            # Control plane only: no agent, namespaces or hosts, even as root. Live checks
            # then SKIP with this reason, the same on every machine.
            "VPCLAB_DATAPLANE": "off",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    @staticmethod
    def _stop_agent(local_dir: Path) -> None:
        """Belt and braces: if a data-plane agent was started in our state folder anyway,
        SIGTERM it by its recorded PID (it stops its hosts and removes its namespaces)."""
        if not local_dir.exists():
            return
        try:
            from vpclab.localcloud import agent
        except ImportError:
            return
        record = agent.running(local_dir)
        if not record:
            return
        pid = int(record["pid"])
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.05)

    def _export(self) -> None:
        """Set the environment in this process: kernels started from here inherit it."""
        wanted = self.environment()
        for key in (*wanted, *DROPPED):
            self._saved[key] = os.environ.get(key)
        for key in DROPPED:
            os.environ.pop(key, None)
        os.environ.update(wanted)

    def stop(self) -> None:
        """Stop our server (by its PID only), restore the environment, drop the temp folder."""
        if self.tmp is not None:
            self._stop_agent(self.tmp / "state" / "local")
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved.clear()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)  # the key pairs go with it
            self.tmp = None

"""A throwaway control plane for a whole process and its children: a seeded moto server of
our own (see `motoserver.ephemeral`), a fresh state folder, and the environment that points
every child (a notebook kernel, say) at both. The notebooks' nbval run and their refresh use
it, so both run the notebooks the same way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from vpclab.localcloud import client, motoserver

SEED = 4242  # a fresh, seeded server gives the same ids on every run


class Sandbox:
    """Start with `start()` (or `with`), stop with `stop()`: a seeded moto server, a fresh
    state folder (key pairs land there, 0600) and the environment set in this process."""

    def __init__(self, seed: int = SEED) -> None:
        self.seed = seed
        self.tmp: Path | None = None
        self.server: motoserver.EphemeralServer | None = None
        self._saved: dict[str, str | None] = {}

    @property
    def endpoint(self) -> str:
        assert self.server is not None, "not started"
        return self.server.endpoint

    def start(self) -> Sandbox:
        self.tmp = Path(tempfile.mkdtemp(prefix="vpclab-sandbox-"))
        try:
            self.server = motoserver.start_ephemeral(self.seed, self.tmp / "moto.log")
        except Exception:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
            raise
        self._export()
        return self

    def environment(self) -> dict[str, str]:
        assert self.tmp is not None, "not started"
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

    def _export(self) -> None:
        """Set the environment in this process: children started from here inherit it."""
        wanted = self.environment()
        dropped = tuple(k for k in motoserver.DROPPED_ENV if k not in wanted)
        for key in (*wanted, *dropped):
            self._saved[key] = os.environ.get(key)
        for key in dropped:
            os.environ.pop(key, None)
        os.environ.update(wanted)

    def stop(self) -> None:
        """Stop our server (by its PID only), restore the environment, drop the temp folder."""
        if self.tmp is not None:
            # Belt and braces: an agent started in our state folder anyway is stopped too.
            local = self.tmp / "state" / "local"
            if local.exists() and client.running(local):
                client.stop(local)
        if self.server is not None:
            self.server.stop()
            self.server = None
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved.clear()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)  # the key pairs go with it
            self.tmp = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

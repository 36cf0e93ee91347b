"""Processes an earlier agent started and this one adopted (see `handover`).

A pid alone may have been reused, so a process is known by pid, start time and name
(`ProcRef`). Once its parent agent has exited it is reparented to init, which reaps it:
`AdoptedProcess` stands in for the `subprocess.Popen` the earlier agent held, seeing only
that the process is gone, never its exit status.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass

from vpclab.localcloud import procfs

UNKNOWN_STATUS = -1  # the exit status went to init, not to us


@dataclass(frozen=True)
class ProcRef:
    pid: int
    start_time: str
    comm: str

    @classmethod
    def of(cls, pid: int) -> ProcRef | None:
        """The running process `pid` as it is now, or None when it is gone."""
        current, comm = procfs.stat(pid), procfs.comm(pid)
        if current is None or current.state == "Z" or comm is None:
            return None
        return cls(pid, current.start_time, comm)

    def alive(self) -> bool:
        """Still this very process (same start time), and not a zombie."""
        current = procfs.stat(self.pid)
        return (
            current is not None and current.start_time == self.start_time and (current.state != "Z")
        )

    def check(self) -> str | None:
        """Why this is not (any more) the recorded process, or None."""
        if not self.alive():
            return f"process {self.pid} ({self.comm}) is gone"
        if procfs.comm(self.pid) != self.comm:
            return f"process {self.pid} is no longer {self.comm}"
        return None


class AdoptedProcess:
    """The parts of `subprocess.Popen` the agent uses, for a process that is not its child."""

    def __init__(self, ref: ProcRef, args: tuple[str, ...] = ()) -> None:
        self.ref = ref
        self.pid = ref.pid
        self.args = list(args)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not self.ref.alive():
            self.returncode = UNKNOWN_STATUS
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            time.sleep(0.005)
        return UNKNOWN_STATUS

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # checked first: a reused pid is never signalled
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

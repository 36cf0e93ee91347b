"""Process bookkeeping of local hosts: the pid file each boot leaves in the host's folder,
and stopping a host that an earlier agent lost track of, without ever killing a reused pid."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from vpclab.errors import VpclabError
from vpclab.localcloud import procfs

HOST_COMMANDS = ("crun", "unshare")  # a host's top process; "unshare" before crun


def pid_file(host_dir: Path) -> Path:
    return host_dir / "host.pid"


def record(host_dir: Path, pid: int) -> None:
    """Remember the host's `crun` by pid and start time, so a later agent (after a crash)
    can find and stop exactly this process: see `stop_stale`."""
    current = procfs.stat(pid)
    pid_file(host_dir).write_text(f"{pid} {current.start_time if current else None}\n")


def forget(host_dir: Path) -> None:
    pid_file(host_dir).unlink(missing_ok=True)


def stop_stale(host_dir: Path, timeout: float = 10.0) -> bool:
    """Stop a host that an earlier agent booted from `host_dir` and lost track of.

    Trusts the recorded pid only if that process is still the same `crun` (same start
    time), so a reused pid is never killed. Returns True if a host was stopped.
    """
    path = pid_file(host_dir.resolve())
    try:
        pid_text, start = path.read_text().split()
        pid = int(pid_text)
    except (FileNotFoundError, ValueError):
        return False
    stopped = False
    current = procfs.stat(pid)
    if current is not None and current.start_time == start and procfs.comm(pid) in HOST_COMMANDS:
        try:
            for child in procfs.children(pid):  # the host's init first, as in BootedHost.stop
                os.kill(child, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
            stopped = True
        except ProcessLookupError:
            pass
        wait_gone(pid, start, timeout)
    path.unlink(missing_ok=True)
    return stopped


def wait_gone(pid: int, start: str | None, timeout: float) -> None:
    """Wait until pid has exited, for a process that is not our child.

    A zombie counts as gone: its reaper is not us. A PID namespace's init becomes a zombie
    only after every other process of the namespace has exited.
    """
    deadline = time.monotonic() + timeout
    while True:
        now = procfs.stat(pid)
        if now is None or (start is not None and now.start_time != start) or now.state == "Z":
            return
        if time.monotonic() > deadline:
            raise VpclabError(
                f"process {pid} of a local host did not exit",
                "check `ps` for a process stuck in the kernel",
            )
        time.sleep(0.005)

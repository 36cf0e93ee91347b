"""The one reader of /proc: a process's state, parent, start time, name, children and network
namespace.

Each function returns None (or []) for a process that is gone, instead of raising.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcStat:
    state: str  # R, S, D, Z, ...
    ppid: int
    start_time: str  # clock ticks since boot: with the pid, it names one process for good


def stat(pid: int) -> ProcStat | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:  # the command name may hold spaces and parentheses: split after the last ")"
        fields = text.rsplit(")", 1)[1].split()
        return ProcStat(state=fields[0], ppid=int(fields[1]), start_time=fields[19])
    except (IndexError, ValueError):
        return None


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for init, not for us)."""
    current = stat(pid)
    return current is not None and current.state != "Z"


def comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def cmdline(pid: int) -> bytes:
    """The raw command line (arguments separated by NUL), or b"" for a gone process."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def netns_inode(pid: int) -> int | None:
    """The inode of the process's network namespace (compare with `netns.inode`)."""
    try:
        return Path(f"/proc/{pid}/ns/net").stat().st_ino
    except OSError:
        return None


def pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


LOOPBACK = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it


def loopback_client_uid(client_port: int, server_port: int) -> int | None:
    """The uid that owns the client end of a TCP connection 127.0.0.1:client_port ->
    127.0.0.1:server_port of this network namespace, or None when there is none."""
    local = f"{LOOPBACK}:{client_port:04X}"
    remote = f"{LOOPBACK}:{server_port:04X}"
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 7 and fields[1] == local and fields[2] == remote:
            return int(fields[7])
    return None

"""The one reader of /proc: a process's state, parent, start time, name, children and network
namespace.

Each function returns None (or []) for a process that is gone, instead of raising.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
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


LISTEN = "0A"  # a socket's state in /proc/net/tcp


def listening(pid: int, port: int) -> bool:
    """Whether a TCP socket listens on `port` in the network namespace of `pid` (its own
    /proc/PID/net/tcp: only that namespace's sockets, a few lines for a lab host)."""
    try:
        lines = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    wanted = f":{port:04X}"
    for line in lines:
        fields = line.split()
        if len(fields) > 3 and fields[1].endswith(wanted) and fields[3] == LISTEN:
            return True
    return False


def holds_listener(pid: int, port: int) -> bool:
    """Whether the process `pid` itself holds a TCP socket listening on `port`: its open
    sockets' inodes against its namespace's /proc/PID/net/tcp. Something answering on a port
    just freed may be another process that took it first."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
        lines = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    inodes = set()
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    wanted = f":{port:04X}"
    for line in lines:
        fields = line.split()
        if len(fields) > 9 and fields[1].endswith(wanted) and fields[3] == LISTEN:
            if fields[9] in inodes:
                return True
    return False


LOOPBACK = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it

# The kernel's socket-diagnostics interface (linux/sock_diag.h, linux/inet_diag.h): one
# request names the connection by its four-tuple and the kernel answers with that one socket,
# where /proc/net/tcp lists every socket of the namespace (thousands on a busy machine).
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLMSG_ERROR = 2
NLM_F_REQUEST = 1
INET_DIAG_NOCOOKIE = 0xFFFFFFFF
_NLMSGHDR = struct.Struct("=IHHII")
# inet_diag_req_v2: family, protocol, ext, pad, states; then the socket id: the ports and
# addresses in network order, the interface and the cookie in the machine's.
_REQ_HEAD, _PORTS, _REQ_TAIL = struct.Struct("=BBBBI"), struct.Struct(">HH"), struct.Struct("=III")
_MSG_UID_AT = 4 + 48 + 12  # inet_diag_msg: family..retrans, the socket id, expires, queues


def loopback_client_uid(client_port: int, server_port: int) -> int | None:
    """The uid that owns the client end of a TCP connection 127.0.0.1:client_port ->
    127.0.0.1:server_port of this network namespace, or None when there is none."""
    try:
        return _diag_uid(client_port, server_port)
    except OSError:  # no sock_diag here (a kernel without it): read the whole table
        return _proc_net_tcp_uid(client_port, server_port)


def _diag_uid(client_port: int, server_port: int) -> int | None:
    loopback = socket.inet_aton("127.0.0.1").ljust(16, b"\0")
    body = (
        _REQ_HEAD.pack(socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF)
        + _PORTS.pack(client_port, server_port)
        + loopback
        + loopback
        + _REQ_TAIL.pack(0, INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE)
    )
    header = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(2.0)
        nl.send(header + body)
        reply = nl.recv(8192)
    _length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(reply)
    if kind == NLMSG_ERROR:
        (error,) = struct.unpack_from("=i", reply, _NLMSGHDR.size)
        if -error == errno.ENOENT:
            return None  # no such connection
        raise OSError(-error, os.strerror(-error))
    if kind != SOCK_DIAG_BY_FAMILY:
        raise OSError(errno.EPROTO, f"unexpected sock_diag reply type {kind}")
    (uid,) = struct.unpack_from("=I", reply, _NLMSGHDR.size + _MSG_UID_AT)
    return uid


def _proc_net_tcp_uid(client_port: int, server_port: int) -> int | None:
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

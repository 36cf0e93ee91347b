"""A jailed kernel's doorway into its own lab's network namespaces.

A socket is made in a namespace by a thread that joins it, which needs root; a graded
kernel runs as a throwaway uid (`vpclab.course.jail`). So the grader (root) listens on a
unix socket only that uid may open, makes the socket in the namespace asked for, when the
namespace is one of the graded lab's, and hands the file descriptor over (SCM_RIGHTS). The
kernel then connects, as a student on AWS would, to whatever that host reaches; it never
joins a namespace, runs a command in one, or touches another lab's. The broker also says
whether a pid is the lab's agent, which the kernel's /proc (hidepid) does not show.

The kernel finds the broker through BROKER_ENV: `netns_socket.socket_in` and
`client.running` ask it when they are not root.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path

from vpclab.errors import VpclabError

BROKER_ENV = "VPCLAB_NETNS_BROKER"
FAMILIES = (socket.AF_INET, socket.AF_INET6)
TYPES = (socket.SOCK_STREAM, socket.SOCK_DGRAM)
MAX_REQUEST = 512


def path() -> str | None:
    """The broker to ask, when this process is an unprivileged kernel that has one."""
    found = os.environ.get(BROKER_ENV)
    return found if found and os.geteuid() != 0 else None


def _ask(request: dict) -> tuple[dict, list[int]]:
    where = path()
    if where is None:
        raise VpclabError("no namespace broker here", "grade as root")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(where)
        conn.sendall(json.dumps(request).encode() + b"\n")
        data, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
    return json.loads(data or b"{}"), fds


def socket_in(netns: str, family: int, type: int) -> socket.socket:
    """An unconnected socket in `netns`, made by the broker."""
    reply, fds = _ask({"op": "socket", "netns": netns, "family": family, "type": type})
    if not fds:
        raise VpclabError(reply.get("error", "the broker gave no socket"), reply.get("fix", ""))
    return socket.socket(fileno=fds[0])


def is_agent(pid: int) -> bool:
    reply, _fds = _ask({"op": "agent", "pid": pid})
    return bool(reply.get("agent"))


class Broker:
    """Serves one uid, for the namespaces `allowed` accepts, on a unix socket at `where`."""

    def __init__(
        self,
        where: Path,
        uid: int,
        allowed: Callable[[str], bool],
        make: Callable[[str, int, int], socket.socket],
        is_agent: Callable[[int], bool],
    ) -> None:
        self.where, self.uid, self.allowed = where, uid, allowed
        self.make, self.is_agent = make, is_agent
        self.refused: list[str] = []  # what was asked and refused, for the grader's log
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._thread = threading.Thread(target=self._serve, name="netns-broker", daemon=True)

    def start(self) -> Broker:
        self.where.unlink(missing_ok=True)
        self._server.bind(str(self.where))
        os.chown(self.where, self.uid, self.uid)
        os.chmod(self.where, 0o600)  # and the kernel's uid is checked on each connection
        self._server.listen(8)
        self._thread.start()
        return self

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        self._thread.join(timeout=5)
        self.where.unlink(missing_ok=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:  # stopped
                return
            with conn:
                conn.settimeout(10)
                try:
                    self._answer(conn)
                except Exception as exc:  # noqa: BLE001 - one bad request never stops it
                    with contextlib.suppress(OSError):
                        conn.sendall(json.dumps({"error": str(exc)}).encode())

    def _answer(self, conn: socket.socket) -> None:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        request = json.loads(conn.recv(MAX_REQUEST).split(b"\n", 1)[0])
        op = request.get("op")
        if uid != self.uid:
            return self._refuse(conn, f"uid {uid} is not the graded kernel's")
        if op == "agent":
            pid = request.get("pid")
            answer = isinstance(pid, int) and pid > 0 and self.is_agent(pid)
            conn.sendall(json.dumps({"agent": answer}).encode())
            return None
        netns, family, kind = request.get("netns"), request.get("family"), request.get("type")
        if op != "socket" or not isinstance(netns, str) or not self.allowed(netns):
            return self._refuse(conn, f"namespace {netns!r} is not this lab's")
        if family not in FAMILIES or kind not in TYPES:
            return self._refuse(conn, f"socket family {family} type {kind}: TCP or UDP only")
        made = self.make(netns, family, kind)
        with made:
            socket.send_fds(conn, [b"{}"], [made.fileno()])
        return None

    def _refuse(self, conn: socket.socket, why: str) -> None:
        self.refused.append(why)
        reply = {"error": f"refused: {why}", "fix": "a graded kernel reaches its own lab only"}
        conn.sendall(json.dumps(reply).encode())

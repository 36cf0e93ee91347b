"""Sockets that live in a named network namespace, made from a process in another one.

A socket belongs to the network namespace it was created in, for its whole life. So a
short-lived thread joins the namespace (setns only moves the calling thread), creates the
socket, and hands it back; the caller then uses it from any thread as usual. Python 3.11 has
no os.setns, hence ctypes. Needs root (CAP_SYS_ADMIN).
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading
from collections.abc import Callable
from typing import TypeVar

from vpclab.errors import VpclabError
from vpclab.localcloud import broker

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"

T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)


def netns_path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def run_in(netns: str | None, fn: Callable[[], T]) -> T:
    """Call fn() in a fresh thread that has joined `netns` (or directly, if netns is None).

    Only what fn creates is bound to the namespace (sockets); fn's result is returned and
    its exception re-raised in the caller.
    """
    if netns is None:
        return fn()
    path = netns_path(netns)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise VpclabError(
            f"network namespace {netns} does not exist", "bring the lab up as root (`vpclab up`)"
        ) from None
    except PermissionError:
        raise VpclabError(
            f"cannot open network namespace {netns}", "the local target's data plane needs root"
        ) from None
    box: dict[str, object] = {}

    def worker() -> None:
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns({path}): {os.strerror(err)}")
            box["result"] = fn()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=worker, name=f"netns:{netns}", daemon=True)
    try:
        thread.start()
        thread.join()
    finally:
        os.close(fd)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


def socket_in(
    netns: str | None, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM
) -> socket.socket:
    """An unconnected socket in `netns`: connect, bind or listen with it from any thread.
    A jailed kernel (not root) gets it from the grader's broker."""
    if netns is not None and broker.path():
        return broker.socket_in(netns, family, type)
    return run_in(netns, lambda: socket.socket(family, type))


def connect_in(
    netns: str | None, address: tuple[str, int], timeout: float | None = 10.0
) -> socket.socket:
    """A TCP connection to `address` made from inside `netns` (a plain connect if None).

    The connect itself runs in the caller's thread, so the timeout applies as usual; the
    returned socket is left in blocking mode when timeout is None, else with that timeout.
    """
    sock = socket_in(netns)
    try:
        sock.settimeout(timeout)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock

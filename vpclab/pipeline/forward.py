"""A reverse port forward over an SSH session (`ssh -R`): a port on the far host's loopback
that reaches an address on this side. On the local target the Verify stage on the Jenkins host
reads the control plane through it, the way the Jenkins instance reads EC2 with its role."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Callable, Iterator

import paramiko


def _pump(chan: paramiko.Channel, sock: socket.socket) -> None:
    try:
        while True:
            ready, _, _ = select.select([chan, sock], [], [], 1.0)
            if chan in ready:
                data = chan.recv(65536)
                if not data:
                    break
                sock.sendall(data)
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    break
                chan.sendall(data)
    except OSError:
        pass
    finally:
        chan.close()
        sock.close()


@contextlib.contextmanager
def reverse(
    transport: paramiko.Transport, target: tuple[str, int] | Callable[[], socket.socket]
) -> Iterator[int]:
    """While open, 127.0.0.1:PORT on the far host reaches `target` here (an address, or what
    connects to it). Yields PORT."""

    def handler(chan: paramiko.Channel, _origin: tuple, _server: tuple) -> None:
        try:
            sock = target() if callable(target) else socket.create_connection(target, timeout=5)
        except OSError:
            chan.close()
            return
        threading.Thread(target=_pump, args=(chan, sock), daemon=True).start()

    port = transport.request_port_forward("127.0.0.1", 0, handler)
    try:
        yield port
    finally:
        with contextlib.suppress(Exception):
            transport.cancel_port_forward("127.0.0.1", port)

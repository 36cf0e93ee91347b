"""The namespace broker: a graded kernel (an unprivileged uid) gets sockets in its own lab's
namespaces from the grader, and nothing else: not another lab's, not for another uid."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from vpclab.course.jail import free_uid
from vpclab.localcloud import broker, names, netns, netns_socket

PORT = 8765
# Run as the kernel's uid: one socket in the lab's namespace, one in another lab's.
KERNEL = """
import sys
from vpclab.localcloud import netns_socket
mine, other = sys.argv[1:3]
with netns_socket.connect_in(mine, ("127.0.0.1", PORT), timeout=5) as sock:
    sock.sendall(b"hello from the kernel")
    print("mine:", sock.recv(64).decode())
try:
    netns_socket.connect_in(other, ("127.0.0.1", PORT), timeout=5)
    print("other: connected")
except Exception as exc:
    print("other:", exc)
""".replace("PORT", str(PORT))


@pytest.fixture
def namespace(data_plane):
    lab_id = "v" + secrets.token_hex(3)[:5]
    name = names.netns(lab_id, "web")
    netns.add(name)
    try:
        netns.exec_in(name, ["ip", "link", "set", "lo", "up"])
        yield lab_id, name
    finally:
        netns.delete(name)


def _echo_server(name: str) -> socket.socket:
    server = netns_socket.socket_in(name)
    server.bind(("127.0.0.1", PORT))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"got " + conn.recv(64))

    threading.Thread(target=serve, daemon=True).start()
    return server


def test_a_kernel_gets_sockets_in_its_own_labs_namespaces_only(namespace):
    lab_id, name = namespace
    folder = Path(tempfile.mkdtemp(prefix="vpclab-broker-"))
    folder.chmod(0o711)  # the kernel's uid passes through to the socket
    uid = free_uid()
    door = broker.Broker(
        folder / "broker.sock",
        uid,
        lambda ns: names.id_of_netns(ns) == lab_id,
        netns_socket.socket_in,
        lambda _pid: False,
    ).start()
    server = _echo_server(name)
    try:
        other = names.netns("v" + secrets.token_hex(3)[:5], "web")
        env = {**os.environ, broker.BROKER_ENV: str(folder / "broker.sock")}
        env["HOME"] = str(folder)

        def as_uid() -> None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)

        done = subprocess.run(
            [sys.executable, "-c", KERNEL, name, other],
            env=env,
            preexec_fn=as_uid,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert "mine: got hello from the kernel" in lines, done.stdout
        assert any(
            line.startswith("other: refused: namespace") and "is not this lab's" in line
            for line in lines
        ), done.stdout
        # A process of another uid (here root, as if another kernel) is refused outright.
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(folder / "broker.sock"))
            conn.sendall(
                b'{"op": "socket", "netns": "%s", "family": 2, "type": 1}\n' % name.encode()
            )
            _data, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
        assert fds == [] and any("is not the graded kernel's" in r for r in door.refused)
    finally:
        server.close()
        door.stop()
        shutil.rmtree(folder, ignore_errors=True)

"""SSH to the lab's hosts the same way on both targets: paramiko, pinned host keys, and a jump
through the web server to the private app.

Host keys are never learned on first use. They come from a channel the control plane
trusts: on AWS the instance's console output (cloud-init prints them between
`-----BEGIN SSH HOST KEY KEYS-----` markers), locally the agent that generated them. They are
pinned in `keys_dir(lab)/known_hosts`, in OpenSSH's format, so the system `ssh` reads the
same file (see `shell.ssh_command`).

On the local target the "student's laptop" stands in the lab's internet namespace, so the
TCP connection to a public host is made from there; on AWS it is a plain connect.
"""

from __future__ import annotations

import posixpath
import shlex
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from vpclab.errors import VpclabError
from vpclab.hosts.known_hosts import (
    internet_netns,
    key_path,
    known_hosts_path,
    parse_console_host_keys,
    pin_host_keys,
    pinned_host_keys,
)
from vpclab.hosts.shell import DEFAULT_USER, run_ssh, ssh_command
from vpclab.localcloud.netns_socket import connect_in

# paramiko is imported when a host is first opened, not with this module: with invoke, which
# it loads, it is a tenth of `import vpclab.lab` (47 of 523 ms), and most processes that load
# this module never open a host (a notebook's kernel before step 05, the grader without
# hosts, `vpclab status`).
if TYPE_CHECKING:
    import paramiko

__all__ = [
    "Host",
    "Result",
    "internet_netns",
    "key_path",
    "known_hosts_path",
    "open_host",
    "parse_console_host_keys",
    "pin_host_keys",
    "pinned_host_keys",
    "run_ssh",
    "ssh_command",
]

STDERR_TAIL = 800


# --- running commands and copying files ------------------------------------------------------


class QuickAckSocket(socket.socket):
    """A socket that ACKs what it receives at once. sshd leaves Nagle's algorithm on for a
    command without a terminal, so its reply's last packets waited for our delayed ACK
    (40 ms): `sudo cat` of a small file on a lab's app server took 82 ms, 18 ms with this.
    Linux only; the kernel drops quick-ACK mode by itself, so every read turns it on again."""

    QUICKACK = getattr(socket, "TCP_QUICKACK", None)

    @classmethod
    def adopt(cls, sock: socket.socket) -> socket.socket:
        if cls.QUICKACK is None:
            return sock
        timeout = sock.gettimeout()
        adopted = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        adopted.settimeout(timeout)
        adopted.setsockopt(socket.IPPROTO_TCP, cls.QUICKACK, 1)
        return adopted

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data = super().recv(bufsize, flags)
        self.setsockopt(socket.IPPROTO_TCP, self.QUICKACK, 1)
        return data


@dataclass(frozen=True)
class Result:
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


class Host:
    """One host reached over SSH as `ubuntu`; connects on first use.

    `via`: another Host to jump through (direct-tcpip on its connection), e.g. the web server
    for the private app. `netns`: the network namespace to make the TCP connection from (the
    local target's internet namespace); None for a plain connect (AWS, or a jump).
    """

    def __init__(
        self,
        address: str,
        *,
        key_file: Path,
        known_hosts: Path,
        user: str = DEFAULT_USER,
        port: int = 22,
        via: Host | None = None,
        netns: str | None = None,
        name: str | None = None,
        connect_timeout: float = 15.0,
    ) -> None:
        self.address = address
        self.port = port
        self.user = user
        self.key_file = Path(key_file)
        self.known_hosts = Path(known_hosts)
        self.via = via
        self.netns = netns
        self.name = name or address
        self.connect_timeout = connect_timeout
        self._client: paramiko.SSHClient | None = None

    def __repr__(self) -> str:
        via = f" via {self.via.name}" if self.via else ""
        return f"<Host {self.name} {self.user}@{self.address}:{self.port}{via}>"

    # connection

    def connect(self) -> Host:
        if self._client is not None and self._transport_alive(self._client):
            return self
        import paramiko  # here, not with the module: see the imports above

        self.close()
        pkey = _load_key(self.key_file)
        if not self.known_hosts.exists():
            raise VpclabError(
                f"no pinned host keys ({self.known_hosts} is missing)",
                "pin the hosts' keys first (the instances step does it)",
            )
        client = paramiko.SSHClient()
        # System host keys are read-only to paramiko: nothing is ever written back.
        client.load_system_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        sock = self._open_socket()
        try:
            client.connect(
                self.address,
                port=self.port,
                username=self.user,
                pkey=pkey,
                sock=sock,
                look_for_keys=False,
                allow_agent=False,
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise VpclabError(
                f"{self.name} ({self.address}) presented a host key that does not match the "
                f"pinned one in {self.known_hosts}: connection refused",
                "if the instance was rebuilt, re-pin its key from the console output; "
                "otherwise someone is in the middle",
            ) from exc
        except paramiko.AuthenticationException as exc:
            client.close()
            raise VpclabError(
                f"{self.user}@{self.name} ({self.address}) refused the key {self.key_file.name}",
                "check the instance was launched with this key pair",
            ) from exc
        except paramiko.SSHException as exc:
            client.close()
            if "not found in known_hosts" in str(exc):
                raise VpclabError(
                    f"no pinned host key for {self.name} ({self.address}) in "
                    f"{self.known_hosts}: connection refused",
                    "pin its key from the console output first",
                ) from exc
            raise VpclabError(f"SSH to {self.name} ({self.address}) failed: {exc}") from exc
        except OSError as exc:
            client.close()
            raise VpclabError(
                f"cannot reach {self.name} ({self.address}:{self.port}): {exc}",
                "check the instance runs and its security group allows SSH from you",
            ) from exc
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(30)
        self._client = client
        return self

    def _open_socket(self) -> socket.socket | paramiko.Channel:
        import paramiko

        try:
            if self.via is not None:
                return self.via.transport.open_channel(
                    "direct-tcpip",
                    (self.address, self.port),
                    ("127.0.0.1", 0),
                    timeout=self.connect_timeout,
                )
            sock = connect_in(self.netns, (self.address, self.port), timeout=self.connect_timeout)
            # A command is a few small packets each way: with Nagle's algorithm on, one of
            # them waited for the server's delayed ACK, about 40 ms a command.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return QuickAckSocket.adopt(sock)
        except (OSError, paramiko.SSHException) as exc:
            hop = f" through {self.via.name}" if self.via else ""
            raise VpclabError(
                f"cannot reach {self.name} ({self.address}:{self.port}){hop}: "
                f"{exc or type(exc).__name__}",
                "check the instance runs and its security group allows SSH from the previous hop",
            ) from exc

    @staticmethod
    def _transport_alive(client: paramiko.SSHClient) -> bool:
        transport = client.get_transport()
        return transport is not None and transport.is_active()

    @property
    def transport(self) -> paramiko.Transport:
        self.connect()
        assert self._client is not None
        transport = self._client.get_transport()
        assert transport is not None
        return transport

    def close(self) -> None:
        if self._client is not None:
            transport = self._client.get_transport()
            self._client.close()
            self._client = None
            if transport is not None and self.via is not None:
                # Its thread's last act is closing its channel on the jump host's connection:
                # closed first, that connection made the thread die with EOFError.
                transport.join(timeout=2)

    def __enter__(self) -> Host:
        return self.connect()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # commands

    def run(
        self,
        cmd: str,
        *,
        sudo: bool = False,
        check: bool = True,
        timeout: float = 300.0,
        env: Mapping[str, str] | None = None,
        input: str | bytes | None = None,
    ) -> Result:
        """Run a shell command line; with sudo, as root through `sudo -n`.

        With check (the default) a non-zero exit raises VpclabError naming the command and
        the tail of its stderr.
        """
        line = cmd
        if env:
            # Exported before the command line, so its own $VARS see them too.
            line = "".join(f"export {k}={shlex.quote(v)}; " for k, v in env.items()) + line
        if sudo:
            line = f"sudo -n -H -- sh -c {shlex.quote(line)}"
        chan = self.transport.open_session(timeout=self.connect_timeout)
        try:
            chan.exec_command(line)
            if input is not None:
                chan.sendall(input.encode() if isinstance(input, str) else input)
            chan.shutdown_write()
            out, err = self._collect(chan, cmd, timeout)
            rc = chan.recv_exit_status()
        finally:
            chan.close()
        result = Result(rc, out.decode(errors="replace"), err.decode(errors="replace"))
        if check and rc != 0:
            tail = (result.stderr.strip() or result.stdout.strip())[-STDERR_TAIL:]
            raise VpclabError(
                f"`{cmd}` failed on {self.name} (exit {rc}): {tail}",
                "fix what the command reports, then run the step again",
            )
        return result

    def _collect(self, chan: paramiko.Channel, cmd: str, timeout: float) -> tuple[bytes, bytes]:
        # Read both streams as they come, so a chatty command never blocks on a full window.
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        pause = 0.001
        while True:
            busy = False
            while chan.recv_ready():
                out += chan.recv(65536)
                busy = True
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
                busy = True
            if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                return bytes(out), bytes(err)
            if chan.closed and not busy:
                return bytes(out), bytes(err)
            if time.monotonic() > deadline:
                raise VpclabError(
                    f"`{cmd}` on {self.name} did not finish in {timeout:.0f} s",
                    "background long-running work with `nohup cmd >log 2>&1 </dev/null &`",
                )
            if busy:
                pause = 0.001
            else:
                time.sleep(pause)
                pause = min(pause * 2, 0.05)

    # files

    def put(
        self,
        local: Path | str,
        remote: str,
        mode: int | None = None,
        *,
        sudo: bool = False,
        owner: str | None = None,
    ) -> None:
        """Copy a local file to `remote`; with sudo (or owner), via a temporary file."""
        self.put_bytes(Path(local).read_bytes(), remote, mode, sudo=sudo, owner=owner)

    def put_text(
        self,
        text: str,
        remote: str,
        mode: int | None = None,
        *,
        sudo: bool = False,
        owner: str | None = None,
    ) -> None:
        self.put_bytes(text.encode(), remote, mode, sudo=sudo, owner=owner)

    def put_bytes(
        self,
        data: bytes,
        remote: str,
        mode: int | None = None,
        *,
        sudo: bool = False,
        owner: str | None = None,
    ) -> None:
        if sudo or owner:
            staging = f"/tmp/.vpclab-put-{uuid.uuid4().hex}"
            self._sftp_write(staging, data, 0o600)
            args = ["install", "-D", "-m", f"{mode if mode is not None else 0o644:o}"]
            if owner:
                user, _, group = owner.partition(":")
                args += ["-o", user] + (["-g", group] if group else [])
            cmd = f"{shlex.join(args + [staging, remote])}; rc=$?; rm -f {staging}; exit $rc"
            self.run(cmd, sudo=True)
        else:
            self._sftp_write(remote, data, mode)

    def _sftp_write(self, remote: str, data: bytes, mode: int | None) -> None:
        try:
            with self.transport.open_sftp_client() as sftp:
                with sftp.open(remote, "wb") as f:
                    # The mode before the first byte: no window where others may read it.
                    if mode is not None:
                        f.chmod(mode)
                    f.set_pipelined(True)
                    f.write(data)
        except OSError as exc:
            raise VpclabError(
                f"cannot write {remote} on {self.name}: {exc}", "for a system path pass sudo=True"
            ) from exc

    def get(self, remote: str, local: Path | str) -> Path:
        local = Path(local)
        if local.is_dir():
            local = local / posixpath.basename(remote)
        try:
            with self.transport.open_sftp_client() as sftp:
                sftp.get(remote, str(local))
        except OSError as exc:
            raise VpclabError(f"cannot read {remote} on {self.name}: {exc}") from exc
        return local

    def read_text(self, remote: str, *, sudo: bool = False) -> str:
        if sudo:
            return self.run(f"cat {shlex.quote(remote)}", sudo=True).stdout
        try:
            with self.transport.open_sftp_client() as sftp, sftp.open(remote, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError as exc:
            raise VpclabError(f"cannot read {remote} on {self.name}: {exc}") from exc


def _load_key(path: Path) -> paramiko.PKey:
    import paramiko

    try:
        return paramiko.PKey.from_path(path)
    except FileNotFoundError:
        raise VpclabError(
            f"private key {path} is missing",
            "run the keys step, which creates and saves the key pair",
        ) from None
    except (paramiko.SSHException, ValueError) as exc:
        raise VpclabError(f"cannot load private key {path}: {exc}") from exc


def open_host(
    lab: str,
    address: str,
    *,
    key_name: str,
    via: Host | None = None,
    local: bool = True,
    name: str | None = None,
    spec_path: Path | None = None,
) -> Host:
    """A Host with the lab's key and pinned keys; on the local target, a public host is
    reached from the lab's internet namespace (a host behind `via` needs no namespace)."""
    return Host(
        address,
        key_file=key_path(lab, key_name, spec_path),
        known_hosts=known_hosts_path(lab, spec_path),
        via=via,
        netns=internet_netns(lab, spec_path) if local and via is None else None,
        name=name,
    )

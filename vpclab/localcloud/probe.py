"""Live probes: real connections made from inside a lab's namespaces."""

from __future__ import annotations

from vpclab.errors import VpclabError
from vpclab.localcloud import names, netns
from vpclab.localcloud.netns_socket import connect_in


def source_netns(lid: str, source: str) -> str:
    """`internet` (the student's laptop side) or a host's role, as a namespace name of the
    lab whose local id is `lid` (see `names.lab_id`)."""
    ns = names.netns(lid, source)
    if not netns.exists(ns):
        raise VpclabError(
            f"lab {lid} has no local namespace for {source!r}",
            "start the local cloud and bring the lab up ('vpclab up')",
        )
    return ns


def tcp_connect(lid: str, source: str, address: str, port: int, timeout: float = 2.0) -> bool:
    """Whether a TCP connection from `source` to address:port is accepted within timeout."""
    ns = source_netns(lid, source)
    try:
        with connect_in(ns, (address, port), timeout=timeout):
            return True
    except OSError:
        return False


def banner(lid: str, source: str, address: str, port: int, timeout: float = 2.0) -> bytes | None:
    """The first bytes a server sends (sshd: `SSH-2.0-...`), or None if it cannot be reached."""
    ns = source_netns(lid, source)
    try:
        with connect_in(ns, (address, port), timeout=timeout) as sock:
            return sock.recv(256)
    except OSError:
        return None


def ssh_host_key(
    lid: str, source: str, address: str, port: int = 22, timeout: float = 5.0
) -> str | None:
    """The host key an SSH server at address:port offers (`ssh-ed25519 AAAA...`), or None."""
    import paramiko

    ns = source_netns(lid, source)
    try:
        sock = connect_in(ns, (address, port), timeout=timeout)
    except OSError:
        return None
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
        return f"{key.get_name()} {key.get_base64()}"
    except (paramiko.SSHException, OSError, EOFError):
        return None
    finally:
        transport.close()
        sock.close()

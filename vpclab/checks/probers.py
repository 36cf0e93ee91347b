"""Where the live checks' connections come from: two backends behind one small interface.

- `NamespaceProber` (target local): each connection is made from inside the namespace that
  stands for the source (`internet`, or a host's role), addresses from the local agent.
- `SshProber` (target aws, and forceable on local): each connection is made by the source
  host itself, over the same pinned SSH sessions the deployment steps use (`vpclab.remote`):
  the host's sshd opens a direct-tcpip channel, so the connection leaves from that host.
  Connections "from the internet" come from the operator's side: a plain socket from this
  machine on AWS, the lab's internet namespace on the local target; what the app must reach
  on the internet is the Site's (`Site.internet_target`).

A probe answers only whether a TCP connection was accepted in time; the checks in
`checks.live` say what that means.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from vpclab import remote
from vpclab.errors import VpclabError
from vpclab.localcloud import internet, probe
from vpclab.localcloud.status import LabStatus
from vpclab.site import Site

ConnectHere = Callable[[str, int, float], socket.socket]


class Backend(StrEnum):
    namespaces = "namespaces"
    ssh = "ssh"


def backend_for(site: Site, forced: Backend | str | None = None) -> Backend:
    """The backend a target's Site uses, unless one is forced (a test, or `VPCLAB_PROBES`)."""
    return Backend(forced or site.probe_backend)


class NotProbed(Exception):
    """What a probe needs is not there yet (reported as SKIP with the message)."""


@dataclass(frozen=True)
class Machine:
    name: str
    role: str
    private_ip: str
    public_ip: str | None
    booted: bool = True
    error: str | None = None


@dataclass(frozen=True)
class InternetTarget:
    address: str
    port: int
    label: str


class Prober(Protocol):
    backend: Backend

    def machines(self) -> list[Machine]:
        """Every running instance of the lab, and whether it has booted (sshd answers)."""
        ...

    def machine(self, role: str) -> Machine | None:
        """Where a role's host answers, or None when there is none."""
        ...

    def connects(self, source: str, address: str, port: int, timeout: float) -> bool:
        """Whether `source` (`internet` or a role) gets a TCP connection to address:port."""
        ...

    def internet_target(self) -> InternetTarget:
        """Something on the internet the private app must reach; NotProbed if not up."""
        ...


def lab_internet(status: LabStatus) -> InternetTarget:
    """The local lab internet's git daemon, which the app clones the project from."""
    if status.services.state != "up":
        raise NotProbed(f"the internet services are not up ({status.services.state})")
    return InternetTarget(status.internet.services, internet.GIT_PORT, "git daemon")


class NamespaceProber:
    """Connections from inside the lab's namespaces (local target, as root)."""

    backend = Backend.namespaces

    def __init__(self, status: LabStatus) -> None:
        self.status = status

    def machines(self) -> list[Machine]:
        return [
            Machine(name, h.role, h.private_ip, h.public_ip, h.booted, h.error)
            for name, h in self.status.hosts.items()
        ]

    def machine(self, role: str) -> Machine | None:
        host = self.status.host(role)
        if host is None:
            return None
        return Machine(host.name, role, host.private_ip, host.public_ip, host.booted, host.error)

    def connects(self, source: str, address: str, port: int, timeout: float) -> bool:
        return probe.tcp_connect(self.status.lab_id, source, address, port, timeout)

    def internet_target(self) -> InternetTarget:
        return lab_internet(self.status)


class SshProber:
    """Connections made by the hosts themselves, over the pinned SSH paths.

    `connect_here`: how this machine connects "from the internet" (default: the Site's way,
    the lab's internet namespace locally, a plain socket on AWS).
    """

    backend = Backend.ssh

    def __init__(
        self,
        reach: remote.Reach,
        connect_here: ConnectHere | None = None,
    ) -> None:
        self.reach = reach
        self._connect_here = connect_here or (
            lambda address, port, timeout: remote.connect(reach, address, port, timeout)
        )

    def _roles(self) -> list[str]:
        from vpclab.aws.inventory import read_state

        spec = self.reach.spec
        return sorted(read_state(self.reach.cloud, spec.name, spec.az).instances)

    def machines(self) -> list[Machine]:
        found = []
        for role in self._roles():
            here = self.machine(role)
            if here is None:
                found.append(Machine(role, role, "", None, False, "no address"))
                continue
            try:
                remote.shared(self.reach, role)
            except (VpclabError, OSError) as exc:
                problem = exc.problem if isinstance(exc, VpclabError) else str(exc)
                found.append(Machine(role, role, here.private_ip, here.public_ip, False, problem))
                continue
            found.append(Machine(role, role, here.private_ip, here.public_ip))
        return found

    def machine(self, role: str) -> Machine | None:
        try:
            here = remote.where(self.reach, role)
        except VpclabError:
            return None
        return Machine(role, role, here.private_ip, here.public_ip)

    def connects(self, source: str, address: str, port: int, timeout: float) -> bool:
        if source == "internet":
            try:
                with self._connect_here(address, port, timeout):
                    return True
            except OSError:
                return False
        host = remote.shared(self.reach, source)  # a failed login is no answer: it raises
        import paramiko  # here, not with the module (see vpclab.hosts.ssh)

        try:
            channel = host.transport.open_channel(
                "direct-tcpip", (address, port), ("127.0.0.1", 0), timeout=timeout
            )
        except (paramiko.SSHException, OSError, EOFError):
            return False  # refused, or no answer within the timeout
        channel.close()
        return True

    def internet_target(self) -> InternetTarget:
        return self.reach.cloud.site.internet_target(self.reach)

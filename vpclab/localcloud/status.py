"""What the agent reports, typed: written by the daemon as JSON every loop, read back by the
client, the live checks and `Lab`. Nothing crosses a module seam as a raw dict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class HostStatus:
    name: str  # the host's short name: its role, or its instance id
    instance_id: str
    role: str
    netns: str
    private_ip: str
    public_ip: str | None  # the address that answers on the wire
    booted: bool
    host_key: str | None
    pid: int | None
    error: str | None
    api_public_ip: str | None = None  # what describe_instances reports (may differ)


@dataclass(frozen=True)
class ServicesStatus:
    """The internet namespace's servers: git daemon and wheel index."""

    state: str  # starting, up, failed or unavailable
    error: str | None = None
    git_url: str | None = None
    index_url: str | None = None
    pip_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class InternetAddresses:
    router: str
    laptop: str
    services: str


@dataclass(frozen=True)
class LabStatus:
    """One lab as the agent made it."""

    lab: str
    lab_id: str
    web_url: str | None
    router_netns: str
    internet_netns: str
    internet: InternetAddresses
    services: ServicesStatus
    nat: dict[str, str] = field(default_factory=dict)  # NAT id -> wire address
    hosts: dict[str, HostStatus] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    # The monitoring server's UIs, published on loopback like the web server.
    prometheus_url: str | None = None
    alertmanager_url: str | None = None

    def host(self, role: str) -> HostStatus | None:
        return next((h for h in self.hosts.values() if h.role == role), None)


@dataclass(frozen=True)
class AgentStatus:
    """The agent's last loop. `applied` is the control plane's mutation count read before
    that loop's snapshot (None when the control plane does not count)."""

    pid: int
    generation: int = 0
    loop_started: float = 0.0
    updated: float = 0.0
    endpoint: str = ""
    region: str = ""
    fingerprint: str = ""
    applied: int | None = None
    control_plane_error: str | None = None
    labs: dict[str, LabStatus] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentStatus:
        labs = {name: _lab(raw) for name, raw in (data.get("labs") or {}).items()}
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "labs"}
        return cls(**fields, labs=labs)


@dataclass(frozen=True)
class DataPlaneStatus:
    """A lab's hosts on this machine, for `Lab.status()` and the CLI."""

    running: bool
    reason: str | None
    lab_id: str | None
    web_url: str | None
    hosts: dict[str, HostStatus] = field(default_factory=dict)
    prometheus_url: str | None = None
    alertmanager_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _lab(raw: dict[str, Any]) -> LabStatus:
    services = dict(raw["services"])
    services["pip_args"] = tuple(services.get("pip_args") or ())
    return LabStatus(
        lab=raw["lab"],
        lab_id=raw["lab_id"],
        web_url=raw.get("web_url"),
        router_netns=raw["router_netns"],
        internet_netns=raw["internet_netns"],
        internet=InternetAddresses(**raw["internet"]),
        services=ServicesStatus(**services),
        nat=dict(raw.get("nat") or {}),
        hosts={name: HostStatus(**h) for name, h in (raw.get("hosts") or {}).items()},
        errors=tuple(raw.get("errors") or ()),
        prometheus_url=raw.get("prometheus_url"),
        alertmanager_url=raw.get("alertmanager_url"),
    )

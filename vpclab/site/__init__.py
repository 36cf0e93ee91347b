"""Where the lab runs: one `Site` per target, chosen once by `Lab` (issue 16, "one Site").

Everything that differs between the `local` and the `aws` target is a member of `Site`,
implemented in `site/local.py` and `site/aws.py`; nothing else in the kit compares the
target (tests/test_one_site.py scans for it). Each member's reason is in
`site/differences.py`. The Site travels with the control plane it connected to
(`Cloud.site`), so steps (`Context.site`), checks (`Facts.site`) and the pipeline reach it
through what they already hold.

This module imports neither implementation at load time: `vpclab.aws.session` looks a Site
up by the target's name, and the local one needs the local cloud's modules.
"""

from __future__ import annotations

import socket
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vpclab.aws.session import Cloud
    from vpclab.checks.probers import InternetTarget, Prober
    from vpclab.lab import Lab
    from vpclab.localcloud.status import LabStatus
    from vpclab.remote import Reach, Services, Where
    from vpclab.spec import LabSpec


class Site(ABC):
    """What one target does its own way. Members are named for what they do."""

    name: str  # the target's name, as in lab.toml and `--target`

    # -- the control plane

    @abstractmethod
    def connect(self, region: str, local_dir: Path) -> Cloud:
        """The control plane's clients: the local moto server, or the credential chain."""

    @abstractmethod
    def stand_in(self, cloud: Cloud) -> str | None:
        """Why the addresses the control plane reports are on no wire, or None."""

    @abstractmethod
    def has_control_plane(self, local_dir: Path) -> bool:
        """Whether a control plane answers, without starting one."""

    @abstractmethod
    def creator(self, cloud: Cloud) -> str | None:
        """The ARN tagged on what the lab creates and checked before changes, or None."""

    @abstractmethod
    def operator_cidr(self, resolver: Callable[[], str]) -> str:
        """What `admin_cidr = "auto"` stands for: where the operator's connections come from."""

    asks_before_changes: bool  # `up` runs a preflight and asks; `Lab.apply` is refused

    @abstractmethod
    def before_up(
        self,
        cloud: Cloud,
        spec: LabSpec,
        steps: list[str],
        *,
        say: Callable[[str], None],
        yes: bool,
        allow_world_admin: bool,
        ask: Callable[[str], bool] | None,
    ) -> None:
        """What comes before the first change of `up` (preflight and confirmation)."""

    reports_host_work: bool  # a step that only worked on hosts sends one marked read

    # -- the hosts

    image_stands_in: bool  # a missing AMI parameter means the site's own image

    @abstractmethod
    def dataplane_off(self) -> str | None:
        """Why no hosts run on this machine for the lab, or None."""

    @abstractmethod
    def follow_dataplane(self, lab: Lab, timeout: float) -> LabStatus | None:
        """After the steps: let the hosts follow the control plane and pin their host keys."""

    @abstractmethod
    def wait_applied(self, lab: Lab) -> None:
        """Wait (bounded) until the hosts show the control plane's latest change."""

    @abstractmethod
    def unreachable(self, reach: Reach) -> str | None:
        """Why the lab's hosts cannot be reached from here, or None."""

    @abstractmethod
    def where(self, reach: Reach, role: str) -> Where:
        """The addresses a role's host answers on."""

    @abstractmethod
    def ssh_addresses(self, lab: Lab, role: str) -> dict[str, tuple[str | None, str | None]]:
        """(public, private) address of each role's host, for the system ssh to `role`."""

    dials_from_lab_internet: bool  # the operator's connections start in the lab's internet
    site_on_loopback: bool  # the microblog is published on a localhost port (the agent's URL)

    @abstractmethod
    def connect_from_internet(
        self, reach: Reach, address: str, port: int, timeout: float
    ) -> socket.socket:
        """A TCP connection from "the internet" (the operator's side)."""

    @abstractmethod
    def services(self, reach: Reach) -> Services | None:
        """Where the hosts get the project and its packages: the lab internet's git remote
        and wheel index, or None for the public ones (the repository URL, PyPI, apt)."""

    # -- the live checks

    probe_backend: str  # "namespaces" or "ssh" (checks.probers.Backend)

    @abstractmethod
    def prober(self, reach: Reach, backend: str, local_dir: Path, catch_up: float) -> Prober | str:
        """What makes the live probes with `backend`, or why nothing can."""

    @abstractmethod
    def internet_target(self, reach: Reach) -> InternetTarget:
        """What on the internet the private app must reach through the NAT (the live check
        app → internet); raises `checks.probers.NotProbed` while it is not up."""

    # -- Jenkins, the pipeline and Grafana

    runs_jenkins: bool  # the Jenkins host runs Jenkins; else the kit's runner plays it

    @abstractmethod
    def why_no_grafana(self) -> str | None:
        """Why the monitoring server has no Grafana, or None when it has."""


def site_for(target: str) -> Site:
    """The Site of a target's name ("local" or "aws"): one object per target."""
    return _site(str(target))  # Target.aws and "aws" are the same Site


@cache
def _site(target: str) -> Site:
    from vpclab.errors import VpclabError
    from vpclab.site.aws import AwsSite
    from vpclab.site.local import LocalSite

    sites: dict[str, type[Site]] = {LocalSite.name: LocalSite, AwsSite.name: AwsSite}
    if target not in sites:
        raise VpclabError(f"unknown target {target!r}", "use --target local or --target aws")
    return sites[target]()

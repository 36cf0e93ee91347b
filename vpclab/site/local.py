"""The local target: the moto server is the control plane, the agent's namespaces are the
hosts, and the operator stands in the lab's internet namespace. Reasons: differences.py."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vpclab.errors import VpclabError
from vpclab.site import Site

if TYPE_CHECKING:
    from vpclab.aws.session import Cloud
    from vpclab.checks.probers import InternetTarget, Prober
    from vpclab.lab import Lab
    from vpclab.localcloud.status import LabStatus
    from vpclab.remote import Reach, Services, Where
    from vpclab.spec import LabSpec

DATAPLANE_OFF = "the local data plane is switched off (VPCLAB_DATAPLANE=off)"


def _switched_off() -> bool:
    return os.environ.get("VPCLAB_DATAPLANE", "on") == "off"


def _lab_status(reach: Reach) -> LabStatus | None:
    from vpclab.localcloud import client
    from vpclab.paths import local_dir

    current = client.status(local_dir(reach.spec_path))
    return current.labs.get(reach.spec.name) if current else None


class LocalSite(Site):
    name = "local"
    asks_before_changes = False
    reports_host_work = True
    image_stands_in = True
    dials_from_lab_internet = True
    site_on_loopback = True
    probe_backend = "namespaces"
    runs_jenkins = False

    def connect(self, region: str, local_dir: Path) -> Cloud:
        from vpclab.aws.session import endpoint_cloud
        from vpclab.localcloud.lifecycle import local_endpoint

        return endpoint_cloud(self.name, region, local_endpoint(local_dir))

    def stand_in(self, cloud: Cloud) -> str | None:
        return None

    def has_control_plane(self, local_dir: Path) -> bool:
        from vpclab.localcloud import lifecycle

        return lifecycle.has_control_plane(local_dir)

    def creator(self, cloud: Cloud) -> str | None:
        return None

    def operator_cidr(self, resolver: Callable[[], str]) -> str:
        from vpclab.aws.admin import LOCAL_ADMIN_CIDR

        return LOCAL_ADMIN_CIDR

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
        return None

    def dataplane_off(self) -> str | None:
        if _switched_off():
            return DATAPLANE_OFF
        from vpclab.localcloud import netns

        return netns.unsupported_reason()

    def follow_dataplane(self, lab: Lab, timeout: float) -> LabStatus | None:
        """Start the agent (restarting one that follows another control plane or runs older
        code), wait until the hosts match the control plane, and pin their host keys."""
        from vpclab.hosts.ssh import known_hosts_path, pin_host_keys
        from vpclab.localcloud import client
        from vpclab.served import handout_project

        reason = self.dataplane_off()
        if reason:
            lab.say(f"hosts skipped: {reason}")
            return None
        # A handout's lab serves a project holding the handout's files (vpclab.served).
        project = handout_project(lab.spec_path)
        client.start(
            lab.local_dir, lab.cloud.endpoint, lab.spec.region, repo_root=project, say=lab.say
        )
        lab_status = client.wait_converged(lab.local_dir, lab.spec.name, timeout)
        if lab_status is None:
            return None
        known = known_hosts_path(lab.spec.name, lab.spec_path)
        for host in lab_status.hosts.values():
            if host.host_key:
                for address in filter(None, (host.private_ip, host.public_ip)):
                    pin_host_keys(known, address, [host.host_key])
        if lab_status.hosts:
            lab.say(f"hosts up: {', '.join(sorted(lab_status.hosts))} (lab id {lab.lab_id})")
        return lab_status

    def wait_applied(self, lab: Lab) -> None:
        from vpclab.checks.live import CATCH_UP
        from vpclab.localcloud import client

        if not self.dataplane_off():
            client.wait_applied(lab.local_dir, lab.cloud.endpoint, CATCH_UP)

    def unreachable(self, reach: Reach) -> str | None:
        if _switched_off():
            return DATAPLANE_OFF
        from vpclab.localcloud import netns

        reason = netns.unsupported_reason()
        if reason:
            return reason
        if _lab_status(reach) is None:
            return "the local agent runs no hosts of this lab ('vpclab up' as root)"
        return None

    def where(self, reach: Reach, role: str) -> Where:
        from vpclab.remote import Where

        lab_status = _lab_status(reach)
        hosts = lab_status.hosts if lab_status else {}
        host = next((h for h in hosts.values() if h.role == role and h.booted), None)
        if host is None:
            raise VpclabError(f"no running {role} host in the local data plane", "run 'vpclab up'")
        return Where(role, host.private_ip, host.public_ip)

    def ssh_addresses(self, lab: Lab, role: str) -> dict[str, tuple[str | None, str | None]]:
        reason = self.dataplane_off()
        if reason:
            raise VpclabError(f"the {role} host is not running here: {reason}")
        hosts = {h.role: h for h in lab.dataplane_status().hosts.values()}
        return {r: (h.public_ip, h.private_ip) for r, h in hosts.items()}

    def connect_from_internet(
        self, reach: Reach, address: str, port: int, timeout: float
    ) -> socket.socket:
        from vpclab.hosts.ssh import internet_netns
        from vpclab.localcloud.netns_socket import connect_in

        ns = internet_netns(reach.spec.name, reach.spec_path)
        return connect_in(ns, (address, port), timeout=timeout)

    def services(self, reach: Reach) -> Services | None:
        from vpclab.remote import Services

        lab_status = _lab_status(reach)
        current = lab_status.services if lab_status else None
        if current is None or current.state != "up" or not current.git_url:
            state = current.state if current else "unknown"
            error = current.error if current else None
            raise VpclabError(
                f"the lab's internet services are not up ({state}{': ' + error if error else ''})",
                "see 'vpclab local status' and the agent log, then run the step again",
            )
        return Services(current.git_url, list(current.pip_args))

    def prober(self, reach: Reach, backend: str, local_dir: Path, catch_up: float) -> Prober | str:
        from vpclab.checks.live import _local_status
        from vpclab.checks.probers import Backend, NamespaceProber, SshProber

        if _switched_off():
            return DATAPLANE_OFF
        found = _local_status(reach.spec.name, local_dir, reach.cloud.endpoint, catch_up)
        if isinstance(found, str):
            return found
        if Backend(backend) is Backend.namespaces:
            return NamespaceProber(found)
        return SshProber(reach)

    def internet_target(self, reach: Reach) -> InternetTarget:
        from vpclab.checks.probers import NotProbed, lab_internet

        lab_status = _lab_status(reach)
        if lab_status is None:
            raise NotProbed(f"the local agent has nothing of lab {reach.spec.name!r}")
        return lab_internet(lab_status)

    def why_no_grafana(self) -> str | None:
        from vpclab.monitoring.grafana import NOT_ON_LOCAL

        return NOT_ON_LOCAL

"""The aws target: the control plane is AWS (or a stand-in that AWS_ENDPOINT_URL names), the
hosts are EC2 instances, and the operator is this machine. Reasons: differences.py."""

from __future__ import annotations

import ipaddress
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
    from vpclab.remote import Reach, Services, Where
    from vpclab.spec import LabSpec


class AwsSite(Site):
    name = "aws"
    asks_before_changes = True
    reports_host_work = False
    image_stands_in = False
    dials_from_lab_internet = False
    site_on_loopback = False
    probe_backend = "ssh"
    runs_jenkins = True

    def connect(self, region: str, local_dir: Path) -> Cloud:
        from vpclab.aws.session import chain_cloud

        return chain_cloud(self.name, region)

    def stand_in(self, cloud: Cloud) -> str | None:
        if cloud.endpoint:
            return (
                f"the aws target's control plane is a stand-in ({cloud.endpoint}): "
                "its addresses are on no wire"
            )
        return None

    def has_control_plane(self, local_dir: Path) -> bool:
        return True

    def creator(self, cloud: Cloud) -> str | None:
        from vpclab.aws import owner

        return owner.caller_arn(cloud)

    def operator_cidr(self, resolver: Callable[[], str]) -> str:
        return f"{ipaddress.IPv4Address(resolver())}/32"

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
        """Preflight against what exists now, then the confirmation (see `guard.before_up`)."""
        from vpclab.aws import guard
        from vpclab.aws.inventory import read_state

        state = read_state(cloud, spec.name, spec.az)
        guard.before_up(
            cloud,
            spec,
            state,
            steps,
            say=say,
            yes=yes,
            allow_world_admin=allow_world_admin,
            ask=ask,
        )

    def dataplane_off(self) -> str | None:
        return "the aws target has no local data plane"

    def follow_dataplane(self, lab: Lab, timeout: float) -> None:
        """Pin each host's keys from its console output (never on first use)."""
        from vpclab import remote
        from vpclab.aws.inventory import read_state
        from vpclab.checks import Facts
        from vpclab.hosts import console_keys
        from vpclab.hosts.ssh import known_hosts_path

        reason = remote.stand_in(Facts(lab.spec, lab.cloud, lab.spec_path))
        if reason:
            lab.say(f"host keys not pinned: {reason}")
            return
        instances = read_state(lab.cloud, lab.spec.name, lab.spec.az).instances
        known = known_hosts_path(lab.spec.name, lab.spec_path)
        console_keys.pin_from_console(lab.cloud.ec2, instances, known, lab.pacing, lab.say)

    def wait_applied(self, lab: Lab) -> None:
        return None  # AWS applies its own changes within seconds

    def unreachable(self, reach: Reach) -> str | None:
        from vpclab import remote

        return remote.stand_in(reach)

    def where(self, reach: Reach, role: str) -> Where:
        from vpclab.aws.inventory import read_state
        from vpclab.remote import Where

        instance = read_state(reach.cloud, reach.spec.name, reach.spec.az).instances.get(role)
        if instance is None:
            raise VpclabError(f"there is no {role} server", "run 'vpclab up --through instances'")
        return Where(role, instance["PrivateIpAddress"], instance.get("PublicIpAddress"))

    def ssh_addresses(self, lab: Lab, role: str) -> dict[str, tuple[str | None, str | None]]:
        from vpclab.aws.inventory import read_state

        instances = read_state(lab.cloud, lab.spec.name, lab.spec.az).instances
        return {
            r: (i.get("PublicIpAddress"), i.get("PrivateIpAddress")) for r, i in instances.items()
        }

    def connect_from_internet(
        self, reach: Reach, address: str, port: int, timeout: float
    ) -> socket.socket:
        return socket.create_connection((address, port), timeout=timeout)

    def services(self, reach: Reach) -> Services | None:
        return None

    def prober(self, reach: Reach, backend: str, local_dir: Path, catch_up: float) -> Prober | str:
        from vpclab import remote
        from vpclab.checks.probers import Backend, SshProber

        if Backend(backend) is Backend.namespaces:
            return "namespace probes exist on the local target only"
        reason = remote.unreachable(reach)
        return reason or SshProber(reach)

    def internet_target(self, reach: Reach) -> InternetTarget:
        from vpclab.checks.probers import InternetTarget

        # The app installs its requirements from PyPI through the NAT (the app host
        # resolves the name itself).
        return InternetTarget("pypi.org", 443, "PyPI")

    def why_no_grafana(self) -> str | None:
        return None

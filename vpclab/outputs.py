"""Typed views of a lab that cross module seams: what `vpclab status` shows and `--json`
prints. Field names follow terraform's outputs (`vpc_id`, `public_subnet_ids`, ...)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vpclab.aws.inventory import LabState
from vpclab.localcloud.status import DataPlaneStatus, HostStatus
from vpclab.site import site_for

# The local data plane's side of the contract: the local cloud fills these in from the
# agent's report.
__all__ = ["DataPlaneStatus", "HostStatus", "InstanceOutput", "LabOutputs"]


@dataclass(frozen=True)
class InstanceOutput:
    id: str
    state: str
    type: str
    private_ip: str | None
    public_ip: str | None  # as the API reports it


@dataclass(frozen=True)
class LabOutputs:
    lab: str
    target: str
    region: str
    vpc_id: str | None
    public_subnet_ids: list[str]
    private_subnet_ids: list[str]
    natgw_ids: list[str]
    nat_public_ips: list[str]
    peering_id: str | None
    instances: dict[str, InstanceOutput]
    web_url: str | None
    prometheus_url: str | None
    alertmanager_url: str | None
    dataplane: DataPlaneStatus

    @property
    def lab_id(self) -> str | None:
        return self.dataplane.lab_id

    def wire_ip(self, role: str) -> str | None:
        """The address that answers for `role` on the local wire, when it differs from the
        API's (an external control plane keeps its own addresses)."""
        host = self.dataplane.hosts.get(role)
        api = self.instances[role].public_ip if role in self.instances else None
        return host.public_ip if host and host.public_ip != api else None

    def to_dict(self) -> dict:
        data = {"lab": self.lab, "lab_id": self.lab_id, **asdict(self)}
        data["target"] = str(self.target)
        return data

    @classmethod
    def read(
        cls, lab: str, target: str, region: str, state: LabState, dataplane: DataPlaneStatus
    ) -> LabOutputs:
        def subnet_ids(role: str) -> list[str]:
            subnet = state.subnets.get(role)
            return [subnet["SubnetId"]] if subnet else []

        nat = state.nat
        addresses = nat.get("NatGatewayAddresses", []) if nat else []
        return cls(
            lab=lab,
            target=str(target),
            region=region,
            vpc_id=state.vpc["VpcId"] if state.vpc else None,
            public_subnet_ids=subnet_ids("public"),
            private_subnet_ids=subnet_ids("private"),
            natgw_ids=[nat["NatGatewayId"]] if nat else [],
            nat_public_ips=[a["PublicIp"] for a in addresses if a.get("PublicIp")],
            peering_id=state.peering["VpcPeeringConnectionId"] if state.peering else None,
            instances={
                role: InstanceOutput(
                    id=i["InstanceId"],
                    state=i["State"]["Name"],
                    type=i["InstanceType"],
                    private_ip=i.get("PrivateIpAddress"),
                    public_ip=i.get("PublicIpAddress"),
                )
                for role, i in sorted(state.instances.items())
            },
            web_url=dataplane.web_url or _public_site(target, state),
            prometheus_url=dataplane.prometheus_url,
            alertmanager_url=dataplane.alertmanager_url,
            dataplane=dataplane,
        )


def _public_site(target: str, state: LabState) -> str | None:
    """On aws the microblog is the web server's public name (or address) over HTTPS; the
    local target publishes it on a loopback port instead (the agent's web_url)."""
    web = state.instances.get("web") or {}
    name = web.get("PublicDnsName") or web.get("PublicIpAddress")
    return f"https://{name}/" if name and not site_for(str(target)).site_on_loopback else None

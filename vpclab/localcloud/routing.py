"""Route-table lookups over one snapshot of the control plane: which subnet reaches which,
and how a subnet reaches the internet (IGW, NAT gateway) or another VPC (peering)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vpclab.localcloud.dataplane import Snapshot

INTERNET = ipaddress.IPv4Network("198.51.100.0/24")  # TEST-NET-2: instances, the internet
ELASTIC = ipaddress.IPv4Network("203.0.113.0/24")  # TEST-NET-3: Elastic IPs
# moto's default VPC has no IGW, unlike AWS's: give it AWS's implicit one.
DEFAULT_VPC_IGW = "igw-default-vpc"

Resource = dict[str, Any]


# The route AWS puts in every table for the VPC's own CIDR: its GatewayId is "local".
VPC_LOCAL = "local"


@dataclass(frozen=True)
class Egress:
    bridge: str
    via: str  # "igw" or "nat"
    nat_id: str | None = None


class Routing:
    """Route-table lookups over one snapshot."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.subnets = {s["SubnetId"]: s for s in snap.subnets}
        self.vpcs = {v["VpcId"]: v for v in snap.vpcs}
        self.nats = {n["NatGatewayId"]: n for n in snap.nats}
        self.peerings = {p["VpcPeeringConnectionId"]: p for p in snap.peerings}
        self.explicit: dict[str, Resource] = {}
        self.main: dict[str, Resource] = {}
        for table in snap.route_tables:
            for assoc in table.get("Associations", []):
                if assoc.get("Main"):
                    self.main[table["VpcId"]] = table
                elif assoc.get("SubnetId"):
                    self.explicit[assoc["SubnetId"]] = table
        self.igw_of: dict[str, str] = {}
        for igw in snap.igws:
            for att in igw.get("Attachments", []):
                if att.get("State") in ("available", "attached"):
                    self.igw_of[att["VpcId"]] = igw["InternetGatewayId"]

    def routes(self, subnet_id: str) -> list[Resource]:
        subnet = self.subnets[subnet_id]
        vpc_id = subnet["VpcId"]
        table = self.explicit.get(subnet_id) or self.main.get(vpc_id)
        routes = list(table.get("Routes", [])) if table else []
        vpc = self.vpcs.get(vpc_id, {})
        if vpc.get("IsDefault") and vpc_id not in self.igw_of and table is self.main.get(vpc_id):
            if not any(r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in routes):
                routes.append(
                    {
                        "DestinationCidrBlock": "0.0.0.0/0",
                        "GatewayId": DEFAULT_VPC_IGW,
                        "State": "active",
                    }
                )
        return routes

    def lookup(self, subnet_id: str, dest: ipaddress.IPv4Network) -> tuple[str, str] | None:
        """Longest-prefix match of a whole network: (kind, target id), or None."""
        best: tuple[int, Resource] | None = None
        for route in self.routes(subnet_id):
            cidr = route.get("DestinationCidrBlock")
            if not cidr or route.get("State") == "blackhole":
                continue
            net = ipaddress.IPv4Network(cidr, strict=False)
            if dest.subnet_of(net) and (best is None or net.prefixlen > best[0]):
                best = (net.prefixlen, route)
        if best is None:
            return None
        route = best[1]
        hop = (
            route.get("NatGatewayId")
            or route.get("VpcPeeringConnectionId")
            or route.get("GatewayId")
            or ""
        )
        if hop == VPC_LOCAL:
            return (VPC_LOCAL, hop)
        for prefix, kind in (("igw-", "igw"), ("nat-", "nat"), ("pcx-", "pcx")):
            if hop.startswith(prefix):
                return (kind, hop)
        return None

    def igw_ok(self, vpc_id: str, igw_id: str) -> bool:
        if igw_id == DEFAULT_VPC_IGW:
            return self.vpcs.get(vpc_id, {}).get("IsDefault", False)
        return self.igw_of.get(vpc_id) == igw_id

    def nat_ok(self, vpc_id: str, nat_id: str) -> bool:
        nat = self.nats.get(nat_id)
        if not nat or nat.get("State") != "available" or nat.get("VpcId") != vpc_id:
            return False
        if nat["SubnetId"] not in self.subnets:
            return False
        route = self.lookup(nat["SubnetId"], INTERNET)
        return route is not None and route[0] == "igw" and self.igw_ok(vpc_id, route[1])

    def peering_ok(self, pcx_id: str, vpc_a: str, vpc_b: str) -> bool:
        pcx = self.peerings.get(pcx_id)
        if not pcx or pcx.get("Status", {}).get("Code") != "active":
            return False
        ends = {
            pcx.get("RequesterVpcInfo", {}).get("VpcId"),
            pcx.get("AccepterVpcInfo", {}).get("VpcId"),
        }
        return ends == {vpc_a, vpc_b}

    def internet_route(self, subnet_id: str) -> Egress | None:
        vpc_id = self.subnets[subnet_id]["VpcId"]
        route = self.lookup(subnet_id, INTERNET)
        if route is None:
            return None
        kind, target = route
        if kind == "igw" and self.igw_ok(vpc_id, target):
            return Egress(bridge="", via="igw")
        if kind == "nat" and self.nat_ok(vpc_id, target):
            return Egress(bridge="", via="nat", nat_id=target)
        return None

    def reaches(self, src: str, dst: str) -> bool:
        """Whether subnet src may open flows to subnet dst."""
        s, d = self.subnets[src], self.subnets[dst]
        dst_net = ipaddress.IPv4Network(d["CidrBlock"])
        route = self.lookup(src, dst_net)
        if route is None:
            return False
        kind, target = route
        if kind == VPC_LOCAL:
            return s["VpcId"] == d["VpcId"]
        if kind != "pcx" or not self.peering_ok(target, s["VpcId"], d["VpcId"]):
            return False
        back = self.lookup(dst, ipaddress.IPv4Network(s["CidrBlock"]))
        return back == ("pcx", target)

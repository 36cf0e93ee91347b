"""What the data plane of each lab should look like, computed from the control plane's state.

Pure functions only: a `Snapshot` of describe calls goes in, a `LabPlan` per lab comes out.
The agent applies plans; tests can check plans without root.

Model (one router namespace per lab, like the VPC router of each VPC the lab touches):
- every subnet of the lab's VPC, plus each subnet that holds a lab instance (Jenkins in the
  default VPC), is a bridge in the router with the subnet's .1 as gateway;
- a flow between two subnets is allowed when the source subnet's route table sends the
  destination to `local` (same VPC) or to an active peering that links both VPCs and whose
  other side routes back the same way;
- a subnet reaches the internet (198.51.100.0/24) when its route for it is an attached IGW
  (only instances with a public address, 1:1 NAT) or an available NAT gateway whose own
  subnet routes to an IGW (masquerade to the NAT's public address);
- the internet reaches an instance only at its public address, and only when its subnet
  routes to an IGW.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from vpclab.aws import tags
from vpclab.localcloud import names

INTERNET = ipaddress.IPv4Network("198.51.100.0/24")  # TEST-NET-2: the only "public" range
ROUTER_PUBLIC_IP = "198.51.100.1"
SERVICES_IP = "198.51.100.253"  # the internet's servers: git daemon, wheel index
LAPTOP_IP = "198.51.100.254"  # the student's laptop (the default admin cidr holds it)
PUBLIC_POOL = tuple(str(INTERNET[i]) for i in range(10, 250))
LIVE_STATES = ("pending", "running")
# moto's default VPC has no IGW, unlike AWS's: give it AWS's implicit one.
DEFAULT_VPC_IGW = "igw-default-vpc"
_SIMPLE_ROLE = re.compile(r"^[a-z][a-z0-9_]*$")
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]+$")

Resource = dict[str, Any]


@dataclass(frozen=True)
class Snapshot:
    """One read of the control plane (a region): what every loop of the agent plans from."""

    vpcs: list[Resource] = field(default_factory=list)
    subnets: list[Resource] = field(default_factory=list)
    route_tables: list[Resource] = field(default_factory=list)
    igws: list[Resource] = field(default_factory=list)
    nats: list[Resource] = field(default_factory=list)
    peerings: list[Resource] = field(default_factory=list)
    groups: list[Resource] = field(default_factory=list)
    instances: list[Resource] = field(default_factory=list)

    @classmethod
    def fetch(cls, ec2: Any) -> Snapshot:
        reservations = ec2.describe_instances()["Reservations"]
        return cls(
            vpcs=ec2.describe_vpcs()["Vpcs"],
            subnets=ec2.describe_subnets()["Subnets"],
            route_tables=ec2.describe_route_tables()["RouteTables"],
            igws=ec2.describe_internet_gateways()["InternetGateways"],
            nats=ec2.describe_nat_gateways()["NatGateways"],
            peerings=ec2.describe_vpc_peering_connections()["VpcPeeringConnections"],
            groups=ec2.describe_security_groups()["SecurityGroups"],
            instances=[i for r in reservations for i in r["Instances"]],
        )


@dataclass(frozen=True)
class SubnetPlan:
    id: str
    vpc_id: str
    cidr: str
    gateway: str
    bridge: str


@dataclass(frozen=True)
class Rule:
    """One allowed flow of a host firewall: protocol, ports and peers."""

    direction: str  # "in" or "out"
    protocol: str  # "all", "tcp", "udp", "icmp" or an IP protocol number
    from_port: int | None
    to_port: int | None
    peers: tuple[str, ...]  # CIDRs and member /32s, sorted


@dataclass(frozen=True)
class HostPlan:
    instance_id: str
    role: str
    netns: str
    hostname: str
    private_ip: str
    prefixlen: int
    gateway: str
    subnet_id: str
    veth: str  # the router's end
    wants_public: bool  # moto gave it a public address: it gets one from 198.51.100.0/24
    key_name: str | None
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Egress:
    bridge: str
    via: str  # "igw" or "nat"
    nat_id: str | None = None


@dataclass(frozen=True)
class LabPlan:
    lab: str
    subnets: tuple[SubnetPlan, ...]
    hosts: tuple[HostPlan, ...]
    links: tuple[tuple[str, str], ...]  # (from bridge, to bridge): new flows allowed
    egress: tuple[Egress, ...]
    inbound: tuple[str, ...]  # instance ids the internet reaches at their public address
    nat_ids: tuple[str, ...]  # NAT gateways that need a public address

    def host(self, instance_id: str) -> HostPlan | None:
        return next((h for h in self.hosts if h.instance_id == instance_id), None)


def labs_in(snap: Snapshot) -> set[str]:
    """Labs are discovered by their tag on VPCs, subnets and live instances."""
    found = set()
    for r in (*snap.vpcs, *snap.subnets):
        if lab := tags.tags_of(r).get(tags.LAB):
            found.add(lab)
    for i in snap.instances:
        if i["State"]["Name"] in LIVE_STATES and (lab := tags.tags_of(i).get(tags.LAB)):
            found.add(lab)
    return found


def bridge_name(lab: str, subnet_id: str) -> str:
    return names.ifname(lab, "b" + hashlib.sha1(subnet_id.encode()).hexdigest()[:7])


def veth_name(lab: str, ip: str) -> str:
    return names.ifname(lab, ipaddress.IPv4Address(ip).packed.hex())


def internet_link(lab: str) -> str:
    return names.ifname(lab, "inet")


def is_host_netns_suffix(suffix: str) -> bool:
    """Whether `vpclab-<lab>-<suffix>` can be a namespace of exactly this lab."""
    return bool(_SIMPLE_ROLE.match(suffix) or _INSTANCE_ID.match(suffix))


class _Routing:
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
        target = (
            route.get("NatGatewayId")
            or route.get("VpcPeeringConnectionId")
            or route.get("GatewayId")
            or ""
        )
        if target == "local":
            return ("local", target)
        for prefix, kind in (("igw-", "igw"), ("nat-", "nat"), ("pcx-", "pcx")):
            if target.startswith(prefix):
                return (kind, target)
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
        if kind == "local":
            return s["VpcId"] == d["VpcId"]
        if kind != "pcx" or not self.peering_ok(target, s["VpcId"], d["VpcId"]):
            return False
        back = self.lookup(dst, ipaddress.IPv4Network(s["CidrBlock"]))
        return back == ("pcx", target)


def _groups_of(instance: Resource, default_sg: dict[str, str]) -> list[str]:
    # moto lists no group for an instance launched without one; AWS would use the default.
    ids = [g["GroupId"] for g in instance.get("SecurityGroups", [])]
    for eni in instance.get("NetworkInterfaces", []):  # launched with NetworkInterfaces=[...]
        ids += [g["GroupId"] for g in eni.get("Groups", []) if g["GroupId"] not in ids]
    if not ids and instance.get("VpcId") in default_sg:
        ids = [default_sg[instance["VpcId"]]]
    return ids


def _rules(
    group_ids: list[str], groups: dict[str, Resource], members: dict[str, list[str]]
) -> tuple[Rule, ...]:
    rules: set[Rule] = set()
    for gid in group_ids:
        group = groups.get(gid)
        if group is None:
            continue
        for direction, key in (("in", "IpPermissions"), ("out", "IpPermissionsEgress")):
            for perm in group.get(key, []):
                peers = {r["CidrIp"] for r in perm.get("IpRanges", []) if r.get("CidrIp")}
                for pair in perm.get("UserIdGroupPairs", []):
                    peers.update(f"{ip}/32" for ip in members.get(pair.get("GroupId", ""), []))
                if not peers:
                    continue
                proto = str(perm.get("IpProtocol", "-1")).lower()
                proto = {"-1": "all", "6": "tcp", "17": "udp", "1": "icmp"}.get(proto, proto)
                from_port = perm.get("FromPort") if proto != "all" else None
                to_port = perm.get("ToPort") if proto != "all" else None
                rules.add(Rule(direction, proto, from_port, to_port, tuple(sorted(peers))))
    return tuple(
        sorted(
            rules,
            key=lambda r: (r.direction, r.protocol, r.from_port or 0, r.to_port or 0, r.peers),
        )
    )


def plan(snap: Snapshot, lab: str) -> LabPlan:
    """The desired data plane of one lab."""
    routing = _Routing(snap)
    live = [i for i in snap.instances if i["State"]["Name"] in LIVE_STATES]
    lab_instances = sorted(
        (
            i
            for i in live
            if tags.tags_of(i).get(tags.LAB) == lab
            and i.get("SubnetId") in routing.subnets
            and i.get("PrivateIpAddress")
        ),
        key=lambda i: (str(i.get("LaunchTime", "")), i["InstanceId"]),
    )

    lab_vpcs = {v["VpcId"] for v in snap.vpcs if tags.tags_of(v).get(tags.LAB) == lab}
    subnet_ids = {
        s["SubnetId"]
        for s in snap.subnets
        if s["VpcId"] in lab_vpcs or tags.tags_of(s).get(tags.LAB) == lab
    }
    subnet_ids.update(i["SubnetId"] for i in lab_instances)
    subnets = tuple(
        SubnetPlan(
            id=sid,
            vpc_id=routing.subnets[sid]["VpcId"],
            cidr=routing.subnets[sid]["CidrBlock"],
            gateway=str(ipaddress.IPv4Network(routing.subnets[sid]["CidrBlock"])[1]),
            bridge=bridge_name(lab, sid),
        )
        for sid in sorted(subnet_ids)
    )
    by_id = {s.id: s for s in subnets}

    default_sg = {g["VpcId"]: g["GroupId"] for g in snap.groups if g.get("GroupName") == "default"}
    groups = {g["GroupId"]: g for g in snap.groups}
    members: dict[str, list[str]] = {}
    for inst in live:
        if inst.get("PrivateIpAddress"):
            for gid in _groups_of(inst, default_sg):
                members.setdefault(gid, []).append(inst["PrivateIpAddress"])

    hosts = []
    taken: set[str] = set()
    for inst in lab_instances:
        role = tags.tags_of(inst).get(tags.ROLE) or ""
        name = role if _SIMPLE_ROLE.match(role) and role not in taken else inst["InstanceId"]
        taken.add(name)
        subnet = by_id[inst["SubnetId"]]
        ip = inst["PrivateIpAddress"]
        hosts.append(
            HostPlan(
                instance_id=inst["InstanceId"],
                role=role or name,
                netns=names.netns(lab, name),
                hostname=f"{lab}-{name}",
                private_ip=ip,
                prefixlen=ipaddress.IPv4Network(subnet.cidr).prefixlen,
                gateway=subnet.gateway,
                subnet_id=subnet.id,
                veth=veth_name(lab, ip),
                wants_public=bool(inst.get("PublicIpAddress")),
                key_name=inst.get("KeyName"),
                rules=_rules(_groups_of(inst, default_sg), groups, members),
            )
        )

    links = tuple(
        (by_id[a].bridge, by_id[b].bridge)
        for a in sorted(by_id)
        for b in sorted(by_id)
        if a != b and routing.reaches(a, b)
    )
    egress = []
    for s in subnets:
        route = routing.internet_route(s.id)
        if route:
            egress.append(Egress(bridge=s.bridge, via=route.via, nat_id=route.nat_id))
    igw_bridges = {e.bridge for e in egress if e.via == "igw"}
    inbound = tuple(
        h.instance_id for h in hosts if h.wants_public and by_id[h.subnet_id].bridge in igw_bridges
    )
    nat_ids = tuple(
        sorted(
            n["NatGatewayId"]
            for n in snap.nats
            if n.get("State") == "available" and n.get("VpcId") in lab_vpcs
        )
    )
    return LabPlan(
        lab=lab,
        subnets=subnets,
        hosts=tuple(hosts),
        links=links,
        egress=tuple(egress),
        inbound=inbound,
        nat_ids=nat_ids,
    )


def allocate(previous: dict[str, str], wanted: list[str]) -> dict[str, str]:
    """Public addresses from the pool: keep what each key had, give new keys the lowest free."""
    kept = {k: ip for k, ip in previous.items() if k in wanted}
    free = [ip for ip in PUBLIC_POOL if ip not in kept.values()]
    for key in wanted:
        if key not in kept:
            if not free:
                raise RuntimeError("the lab's public address pool is exhausted")
            kept[key] = free.pop(0)
    return kept

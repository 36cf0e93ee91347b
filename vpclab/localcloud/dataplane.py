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
from vpclab.localcloud.routing import (
    ELASTIC,
    INTERNET,
    Egress,
    Resource,
    Routing,
)

ROUTER_PUBLIC_IP = "198.51.100.1"
SERVICES_IP = "198.51.100.253"  # the internet's servers: git daemon, wheel index
LAPTOP_IP = "198.51.100.254"  # the student's laptop (the default admin cidr holds it)
RESERVED = frozenset({ROUTER_PUBLIC_IP, SERVICES_IP, LAPTOP_IP})
# For a control plane that hands out other addresses (plain moto: 54.x, 127.x).
PUBLIC_POOL = tuple(str(INTERNET[i]) for i in range(10, 250))
LIVE_STATES = ("pending", "running")
_SIMPLE_ROLE = re.compile(r"^[a-z][a-z0-9_]*$")


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
    public_ip: str | None  # the control plane's public address for it (None: no public IP)
    key_name: str | None
    rules: tuple[Rule, ...]

    @property
    def wants_public(self) -> bool:
        return self.public_ip is not None


@dataclass(frozen=True)
class LabPlan:
    lab: str
    lab_id: str
    subnets: tuple[SubnetPlan, ...]
    hosts: tuple[HostPlan, ...]
    links: tuple[tuple[str, str], ...]  # (from bridge, to bridge): new flows allowed
    egress: tuple[Egress, ...]
    inbound: tuple[str, ...]  # instance ids the internet reaches at their public address
    nat_ids: tuple[str, ...]  # NAT gateways that need a public address
    nat_public_ips: tuple[tuple[str, str | None], ...] = ()  # (NAT id, its API address)

    def public_wanted(self) -> dict[str, str | None]:
        """What needs a public address on the wire -> the address the API reports."""
        wanted: dict[str, str | None] = {
            h.instance_id: h.public_ip for h in self.hosts if h.wants_public
        }
        wanted.update(self.nat_public_ips)
        return wanted

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


def bridge_name(lid: str, subnet_id: str) -> str:
    return names.ifname(lid, "b" + hashlib.sha1(subnet_id.encode()).hexdigest()[:7])


def veth_name(lid: str, ip: str) -> str:
    return names.ifname(lid, ipaddress.IPv4Address(ip).packed.hex())


def internet_link(lid: str) -> str:
    return names.ifname(lid, "inet")


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


def plan(snap: Snapshot, lab: str, lid: str) -> LabPlan:
    """The desired data plane of one lab, whose local id is `lid` (see `names`)."""
    routing = Routing(snap)
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
            bridge=bridge_name(lid, sid),
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
                netns=names.netns(lid, name),
                hostname=f"{lab}-{name}",
                private_ip=ip,
                prefixlen=ipaddress.IPv4Network(subnet.cidr).prefixlen,
                gateway=subnet.gateway,
                subnet_id=subnet.id,
                veth=veth_name(lid, ip),
                public_ip=inst.get("PublicIpAddress") or None,
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
    nats = sorted(
        (n for n in snap.nats if n.get("State") == "available" and n.get("VpcId") in lab_vpcs),
        key=lambda n: n["NatGatewayId"],
    )
    nat_ids = tuple(n["NatGatewayId"] for n in nats)
    nat_public_ips = tuple(
        (
            n["NatGatewayId"],
            next((a.get("PublicIp") for a in n.get("NatGatewayAddresses", [])), None),
        )
        for n in nats
    )
    return LabPlan(
        lab=lab,
        lab_id=lid,
        subnets=subnets,
        hosts=tuple(hosts),
        links=links,
        egress=tuple(egress),
        inbound=inbound,
        nat_ids=nat_ids,
        nat_public_ips=nat_public_ips,
    )


def usable_as_is(ip: str | None) -> bool:
    """Whether the API's public address can be used on the wire exactly: one from the
    documentation ranges that the data plane does not keep for itself."""
    if not ip:
        return False
    try:
        address = ipaddress.IPv4Address(ip)
    except ValueError:
        return False
    if ip in RESERVED or address in (INTERNET[0], INTERNET[-1], ELASTIC[0], ELASTIC[-1]):
        return False
    return address in INTERNET or address in ELASTIC


def allocate(previous: dict[str, str], wanted: dict[str, str | None]) -> dict[str, str]:
    """The wire address of each key (instance or NAT id), given the API's address of each.

    The API's address is used as is when it can be (the project's moto server hands out
    documentation addresses); otherwise the key gets one from the pool, keeping what it had
    and else the lowest free."""
    exact = {k: ip for k, ip in wanted.items() if usable_as_is(ip) and ip is not None}
    taken = set(exact.values())
    kept = {
        k: ip
        for k, ip in previous.items()
        if k in wanted and k not in exact and ip not in taken and ip in PUBLIC_POOL
    }
    free = [ip for ip in PUBLIC_POOL if ip not in kept.values() and ip not in taken]
    result = dict(exact)
    for key in wanted:
        if key in exact:
            continue
        if key in kept:
            result[key] = kept[key]
            continue
        if not free:
            raise RuntimeError("the lab's public address pool is exhausted")
        result[key] = free.pop(0)
    return result

"""Read a lab's control-plane state, found by tags. Read-only: describe calls only."""

from __future__ import annotations

from dataclasses import dataclass, field

from vpclab.aws.session import Cloud
from vpclab.aws.tags import lab_filter, role_of

GONE_INSTANCE = ("shutting-down", "terminated")
GONE_NAT = ("deleting", "deleted", "failed")
GONE_PEERING = ("deleted", "rejected", "failed", "expired")


@dataclass
class LabState:
    lab: str
    vpc: dict | None = None
    subnets: dict[str, dict] = field(default_factory=dict)  # role: public | private
    route_tables: dict[str, dict] = field(default_factory=dict)  # role: public | private
    igw: dict | None = None
    eips: list[dict] = field(default_factory=list)
    nat: dict | None = None
    peering: dict | None = None
    security_groups: dict[str, dict] = field(default_factory=dict)  # role
    instances: dict[str, dict] = field(default_factory=dict)  # role
    key_pairs: dict[str, dict] = field(default_factory=dict)  # role
    default_vpc: dict | None = None
    default_subnet: dict | None = None
    default_route_table: dict | None = None

    @property
    def empty(self) -> bool:
        return not any(
            [
                self.vpc,
                self.subnets,
                self.route_tables,
                self.igw,
                self.eips,
                self.nat,
                self.peering,
                self.security_groups,
                self.instances,
                self.key_pairs,
            ]
        )


def _by_role(items: list[dict]) -> dict[str, dict]:
    return {role: item for item in items if (role := role_of(item))}


def read_state(cloud: Cloud, lab: str, az: str | None = None) -> LabState:
    ec2 = cloud.ec2
    flt = lab_filter(lab)
    state = LabState(lab)
    vpcs = ec2.describe_vpcs(Filters=flt)["Vpcs"]
    state.vpc = vpcs[0] if vpcs else None
    state.subnets = _by_role(ec2.describe_subnets(Filters=flt)["Subnets"])
    state.route_tables = _by_role(ec2.describe_route_tables(Filters=flt)["RouteTables"])
    igws = ec2.describe_internet_gateways(Filters=flt)["InternetGateways"]
    state.igw = igws[0] if igws else None
    state.eips = ec2.describe_addresses(Filters=flt)["Addresses"]
    nats = [
        n
        for n in ec2.describe_nat_gateways(Filter=flt)["NatGateways"]
        if n["State"] not in GONE_NAT
    ]
    state.nat = nats[0] if nats else None
    peerings = [
        p
        for p in ec2.describe_vpc_peering_connections(Filters=flt)["VpcPeeringConnections"]
        if p["Status"]["Code"] not in GONE_PEERING
    ]
    state.peering = peerings[0] if peerings else None
    state.security_groups = _by_role(ec2.describe_security_groups(Filters=flt)["SecurityGroups"])
    reservations = ec2.describe_instances(Filters=flt)["Reservations"]
    state.instances = _by_role(
        [i for r in reservations for i in r["Instances"] if i["State"]["Name"] not in GONE_INSTANCE]
    )
    state.key_pairs = _by_role(ec2.describe_key_pairs(Filters=flt)["KeyPairs"])
    defaults = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    if defaults:
        state.default_vpc = defaults[0]
        vpc_id = state.default_vpc["VpcId"]
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
        subnets.sort(key=lambda s: (s.get("AvailabilityZone") != az, s["CidrBlock"]))
        state.default_subnet = subnets[0] if subnets else None
        tables = ec2.describe_route_tables(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "association.main", "Values": ["true"]},
            ]
        )["RouteTables"]
        state.default_route_table = tables[0] if tables else None
    return state


def default_route_target(table: dict | None, destination: str = "0.0.0.0/0") -> str | None:
    """The gateway (igw-, nat-, pcx-...) a route table sends `destination` to."""
    for route in (table or {}).get("Routes", []):
        if route.get("DestinationCidrBlock") == destination and route.get("State") != "blackhole":
            return (
                route.get("GatewayId")
                or route.get("NatGatewayId")
                or route.get("VpcPeeringConnectionId")
                or route.get("InstanceId")
            )
    return None


def associated_subnets(table: dict | None) -> set[str]:
    return {a["SubnetId"] for a in (table or {}).get("Associations", []) if a.get("SubnetId")}


@dataclass(frozen=True)
class IngressRule:
    """One inbound TCP range from one source (a CIDR or a security group id)."""

    first: int
    last: int
    source: str


def ingress_rules(group: dict) -> list[IngressRule]:
    rules = []
    for perm in group.get("IpPermissions", []):
        if perm.get("IpProtocol") not in ("tcp", "-1"):
            continue
        everything = perm.get("IpProtocol") == "-1"
        first = 0 if everything else perm.get("FromPort", 0)
        last = 65535 if everything else perm.get("ToPort", 65535)
        sources = [r["CidrIp"] for r in perm.get("IpRanges", [])]
        sources += [p["GroupId"] for p in perm.get("UserIdGroupPairs", [])]
        rules += [IngressRule(first, last, source) for source in sources]
    return rules


def allows(rules: list[IngressRule], port: int, source: str) -> bool:
    return any(r.source == source and r.first <= port <= r.last for r in rules)

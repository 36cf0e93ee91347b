"""Read a lab's control-plane state, found by tags. Read-only: describe calls only."""

from __future__ import annotations

from dataclasses import dataclass, field

from vpclab.aws.session import Cloud
from vpclab.aws.tags import LAB, lab_filter, role_of, tags_of

GONE_INSTANCE = ("shutting-down", "terminated")
GONE_NAT = ("deleting", "deleted", "failed")
GONE_PEERING = ("deleting", "deleted", "rejected", "failed", "expired")


@dataclass
class Tagged:
    """Every resource tagged for the lab, duplicates included, and those still going away
    (`shutting-down` instances, `deleting` NATs): what teardown must act on or wait for."""

    vpcs: list[dict] = field(default_factory=list)
    subnets: list[dict] = field(default_factory=list)
    route_tables: list[dict] = field(default_factory=list)
    igws: list[dict] = field(default_factory=list)
    eips: list[dict] = field(default_factory=list)
    nats: list[dict] = field(default_factory=list)  # every state but deleted and failed
    peerings: list[dict] = field(default_factory=list)  # every state that can still route
    peering_ids: set[str] = field(default_factory=set)  # ever tagged, deleted ones too
    security_groups: list[dict] = field(default_factory=list)
    instances: list[dict] = field(default_factory=list)  # every state but terminated
    key_pairs: list[dict] = field(default_factory=list)

    def leftovers(self) -> list[str]:
        """One short line per resource still there, e.g. 'NAT gateway nat-1 (deleting)'."""
        lines = [f"instance {i['InstanceId']} ({i['State']['Name']})" for i in self.instances]
        lines += [f"NAT gateway {n['NatGatewayId']} ({n['State']})" for n in self.nats]
        lines += [f"Elastic IP {a.get('PublicIp', a['AllocationId'])}" for a in self.eips]
        lines += [f"Internet Gateway {g['InternetGatewayId']}" for g in self.igws]
        lines += [
            f"VPC peering {p['VpcPeeringConnectionId']} ({p['Status']['Code']})"
            for p in self.peerings
        ]
        lines += [f"route table {t['RouteTableId']}" for t in self.route_tables]
        lines += [f"security group {g['GroupId']}" for g in self.security_groups]
        lines += [f"subnet {s['SubnetId']}" for s in self.subnets]
        lines += [f"VPC {v['VpcId']}" for v in self.vpcs]
        lines += [f"key pair {k['KeyName']}" for k in self.key_pairs]
        return lines


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
    # The attributes above hold one resource per role (what steps and checks use); `tagged`
    # holds all of them, for teardown.
    tagged: Tagged = field(default_factory=Tagged)

    @property
    def empty(self) -> bool:
        return not self.tagged.leftovers()


def _by_role(items: list[dict]) -> dict[str, dict]:
    return {role: item for item in items if (role := role_of(item))}


def read_state(cloud: Cloud, lab: str, az: str | None = None) -> LabState:
    ec2 = cloud.ec2
    flt = lab_filter(lab)
    state = LabState(lab)
    tagged = state.tagged
    tagged.vpcs = ec2.describe_vpcs(Filters=flt)["Vpcs"]
    state.vpc = tagged.vpcs[0] if tagged.vpcs else None
    tagged.subnets = ec2.describe_subnets(Filters=flt)["Subnets"]
    state.subnets = _by_role(tagged.subnets)
    tagged.route_tables = ec2.describe_route_tables(Filters=flt)["RouteTables"]
    state.route_tables = _by_role(tagged.route_tables)
    tagged.igws = ec2.describe_internet_gateways(Filters=flt)["InternetGateways"]
    state.igw = tagged.igws[0] if tagged.igws else None
    state.eips = tagged.eips = ec2.describe_addresses(Filters=flt)["Addresses"]
    nats = ec2.describe_nat_gateways(Filter=flt)["NatGateways"]
    tagged.nats = [n for n in nats if n["State"] not in ("deleted", "failed")]
    live_nats = [n for n in nats if n["State"] not in GONE_NAT]
    state.nat = live_nats[0] if live_nats else None
    # moto 5.2.5 ignores this call's filters (AWS honours them): keep only what is ours.
    peerings = [
        p
        for p in ec2.describe_vpc_peering_connections(Filters=flt)["VpcPeeringConnections"]
        if tags_of(p).get(LAB) == lab
    ]
    tagged.peering_ids = {p["VpcPeeringConnectionId"] for p in peerings}
    tagged.peerings = [p for p in peerings if p["Status"]["Code"] not in GONE_PEERING]
    state.peering = tagged.peerings[0] if tagged.peerings else None
    tagged.security_groups = ec2.describe_security_groups(Filters=flt)["SecurityGroups"]
    state.security_groups = _by_role(tagged.security_groups)
    reservations = ec2.describe_instances(Filters=flt)["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    tagged.instances = [i for i in instances if i["State"]["Name"] != "terminated"]
    state.instances = _by_role([i for i in instances if i["State"]["Name"] not in GONE_INSTANCE])
    tagged.key_pairs = ec2.describe_key_pairs(Filters=flt)["KeyPairs"]
    state.key_pairs = _by_role(tagged.key_pairs)
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
    route = route_to(table, destination)
    return route_target(route) if route and route.get("State") != "blackhole" else None


def route_to(table: dict | None, destination: str) -> dict | None:
    """The route for `destination` in any state, a blackhole included."""
    for route in (table or {}).get("Routes", []):
        if route.get("DestinationCidrBlock") == destination:
            return route
    return None


# Where a route sends its traffic: each kind of target has its own key in the API's answer.
# An instance's route names its network interface too; the instance is the clearer name.
ROUTE_TARGET_KEYS = (
    "GatewayId",  # an internet gateway, a virtual private gateway, a gateway endpoint, "local"
    "NatGatewayId",
    "VpcPeeringConnectionId",
    "InstanceId",
    "NetworkInterfaceId",
    "TransitGatewayId",
    "EgressOnlyInternetGatewayId",
    "CarrierGatewayId",
    "LocalGatewayId",
    "CoreNetworkArn",
)


def route_target(route: dict) -> str | None:
    """The id of a route's target (`local` for the VPC's own range); None only for a route
    that names none of the API's target keys."""
    return next((route[key] for key in ROUTE_TARGET_KEYS if route.get(key)), None)


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


def attached_volumes(cloud: Cloud, state: LabState) -> list[dict]:
    """The EBS volumes attached to the lab's servers (their root disks): what they bill for
    storage. Read separately from `read_state`, which only the cost needs it for."""
    ids = [i["InstanceId"] for i in state.tagged.instances if i["State"]["Name"] != "terminated"]
    if not ids:
        return []
    found = cloud.ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": ids}])
    return [v for v in found["Volumes"] if v.get("State") != "deleted"]

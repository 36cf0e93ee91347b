"""A lab built with raw boto3, the way the lab's steps build it: the localcloud tests' fixture.

Kept apart from the steps on purpose: these tests pin the data plane's behaviour for a known
control-plane shape, whatever the steps do. Used by `benchmarks/bench_localcloud.py` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vpclab.aws import keypairs, tags
from vpclab.aws.session import LOCAL_CREDENTIALS, new_session
from vpclab.localcloud import motoserver

REGION = "us-east-1"
ADMIN_CIDR = "198.51.100.0/24"
DEFAULT_VPC_CIDR = "172.31.0.0/16"


def ec2_client(endpoint: str):
    return new_session(REGION, **LOCAL_CREDENTIALS).client("ec2", endpoint_url=endpoint)


MotoServer = motoserver.EphemeralServer


def moto_server(log: Path) -> MotoServer:
    """A moto server of our own (the local target's, patched), stopped by its PID."""
    return motoserver.start_ephemeral(log=log)


@dataclass
class Lab:
    name: str
    ec2: object
    vpc: str = ""
    subnets: dict[str, str] = field(default_factory=dict)  # role -> id
    tables: dict[str, str] = field(default_factory=dict)  # role -> route table id
    groups: dict[str, str] = field(default_factory=dict)  # role -> sg id
    instances: dict[str, str] = field(default_factory=dict)  # role -> instance id
    nat: str = ""
    peering: str = ""
    key_name: str = ""
    key_file: Path | None = None
    ami: str = ""

    def instance(self, role: str) -> dict:
        reservations = self.ec2.describe_instances(InstanceIds=[self.instances[role]])
        return reservations["Reservations"][0]["Instances"][0]

    def private_ip(self, role: str) -> str:
        return self.instance(role)["PrivateIpAddress"]

    def sg_rule_ids(self, role: str, port: int, source_role: str) -> list[str]:
        rules = self.ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [self.groups[role]]}]
        )["SecurityGroupRules"]
        return [
            r["SecurityGroupRuleId"]
            for r in rules
            if not r.get("IsEgress")
            and r.get("FromPort") == port
            and r.get("ReferencedGroupInfo", {}).get("GroupId") == self.groups[source_role]
        ]


def _tag(lab: str, role: str, kind: str) -> list[dict]:
    return tags.tag_spec(kind, lab, role, f"{lab}-{role}")


def make_key(folder: Path, name: str) -> tuple[Path, str]:
    """An ed25519 key pair: the private key as `<name>.pem` (0600) and the public line."""
    public = keypairs.generate(folder, name).rsplit(" ", 1)[0]
    return keypairs.private_key_path(folder, name), public


def default_vpc(ec2) -> tuple[str, str, str]:
    """(vpc id, first default subnet id, main route table id) of moto's default VPC."""
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])
    subnet = sorted(subnets["Subnets"], key=lambda s: s["CidrBlock"])[0]["SubnetId"]
    tables = ec2.describe_route_tables(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
            {"Name": "association.main", "Values": ["true"]},
        ]
    )["RouteTables"]
    return vpc["VpcId"], subnet, tables[0]["RouteTableId"]


def build_network(
    ec2,
    lab: str,
    cidr: str = "10.0.0.0/16",
    public: str = "10.0.1.0/24",
    private: str = "10.0.2.0/24",
    peering: bool = True,
) -> Lab:
    """VPC, subnets, IGW, NAT, route tables, peering with the default VPC, security groups."""
    out = Lab(name=lab, ec2=ec2)
    out.vpc = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=_tag(lab, "vpc", "vpc"))["Vpc"][
        "VpcId"
    ]
    for role, block in (("public", public), ("private", private)):
        out.subnets[role] = ec2.create_subnet(
            VpcId=out.vpc, CidrBlock=block, TagSpecifications=_tag(lab, role, "subnet")
        )["Subnet"]["SubnetId"]
    ec2.modify_subnet_attribute(SubnetId=out.subnets["public"], MapPublicIpOnLaunch={"Value": True})
    igw = ec2.create_internet_gateway(TagSpecifications=_tag(lab, "igw", "internet-gateway"))[
        "InternetGateway"
    ]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=out.vpc)
    eip = ec2.allocate_address(Domain="vpc", TagSpecifications=_tag(lab, "nat", "elastic-ip"))
    out.nat = ec2.create_nat_gateway(
        SubnetId=out.subnets["public"],
        AllocationId=eip["AllocationId"],
        TagSpecifications=_tag(lab, "nat", "natgateway"),
    )["NatGateway"]["NatGatewayId"]
    for role in ("public", "private"):
        table = ec2.create_route_table(
            VpcId=out.vpc, TagSpecifications=_tag(lab, role, "route-table")
        )["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=table, SubnetId=out.subnets[role])
        out.tables[role] = table
    ec2.create_route(
        RouteTableId=out.tables["public"], DestinationCidrBlock="0.0.0.0/0", GatewayId=igw
    )
    ec2.create_route(
        RouteTableId=out.tables["private"], DestinationCidrBlock="0.0.0.0/0", NatGatewayId=out.nat
    )

    default, _, main_table = default_vpc(ec2)
    if peering:
        out.peering = ec2.create_vpc_peering_connection(
            VpcId=default,
            PeerVpcId=out.vpc,
            TagSpecifications=_tag(lab, "peering", "vpc-peering-connection"),
        )["VpcPeeringConnection"]["VpcPeeringConnectionId"]
        ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=out.peering)
        ec2.create_route(
            RouteTableId=main_table, DestinationCidrBlock=cidr, VpcPeeringConnectionId=out.peering
        )
        for role in ("public", "private"):
            ec2.create_route(
                RouteTableId=out.tables[role],
                DestinationCidrBlock=DEFAULT_VPC_CIDR,
                VpcPeeringConnectionId=out.peering,
            )

    def group(role: str, vpc: str) -> str:
        gid = ec2.create_security_group(
            GroupName=f"{lab}-{role}",
            Description=f"{role} of {lab}",
            VpcId=vpc,
            TagSpecifications=_tag(lab, role, "security-group"),
        )["GroupId"]
        out.groups[role] = gid
        return gid

    def tcp(port: int, cidrs: tuple[str, ...] = (), groups: tuple[str, ...] = ()) -> dict:
        return {
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": port,
            "IpRanges": [{"CidrIp": c} for c in cidrs],
            "UserIdGroupPairs": [{"GroupId": g} for g in groups],
        }

    jenkins = group("jenkins", default)
    web = group("web", out.vpc)
    app = group("app", out.vpc)
    ec2.authorize_security_group_ingress(
        GroupId=jenkins, IpPermissions=[tcp(22, (ADMIN_CIDR,)), tcp(8080, (ADMIN_CIDR,))]
    )
    ec2.authorize_security_group_ingress(
        GroupId=web,
        IpPermissions=[
            tcp(22, (ADMIN_CIDR,)),
            tcp(22, groups=(jenkins,)),
            tcp(80, ("0.0.0.0/0",)),
            tcp(443, ("0.0.0.0/0",)),
        ],
    )
    ec2.authorize_security_group_ingress(
        GroupId=app, IpPermissions=[tcp(22, groups=(web,)), tcp(5000, groups=(web,))]
    )
    return out


def prepare(lab: Lab, key_dir: Path) -> None:
    """The lab's key pair and an AMI id (once; `launch` does it when needed)."""
    if not lab.key_name:
        lab.key_name = f"{lab.name}-key"
        lab.key_file, public = make_key(key_dir, lab.key_name)
        lab.ec2.import_key_pair(KeyName=lab.key_name, PublicKeyMaterial=public.encode())
    if not lab.ami:
        lab.ami = lab.ec2.describe_images()["Images"][0]["ImageId"]


def launch(lab: Lab, role: str, key_dir: Path, user_data: str = "") -> str:
    """Run one instance of `role` in its subnet, with the lab's key pair."""
    ec2 = lab.ec2
    prepare(lab, key_dir)
    subnet = {
        "web": lab.subnets["public"],
        "app": lab.subnets["private"],
        "jenkins": default_vpc(ec2)[1],
    }[role]
    kwargs = {}
    if role == "jenkins":
        kwargs["NetworkInterfaces"] = [
            {
                "DeviceIndex": 0,
                "SubnetId": subnet,
                "AssociatePublicIpAddress": True,
                "Groups": [lab.groups[role]],
            }
        ]
    else:
        kwargs.update(SubnetId=subnet, SecurityGroupIds=[lab.groups[role]])
    iid = ec2.run_instances(
        ImageId=lab.ami,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        KeyName=lab.key_name,
        UserData=user_data,
        TagSpecifications=_tag(lab.name, role, "instance"),
        **kwargs,
    )["Instances"][0]["InstanceId"]
    lab.instances[role] = iid
    return iid

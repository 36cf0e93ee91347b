"""Step `vpc`: the custom VPC (DNS on), a public subnet (public IPs on launch), a private one."""

from __future__ import annotations

from vpclab.steps.context import Context, first


def _ensure_vpc_attribute(ctx: Context, vpc_id: str, name: str, wanted: bool) -> None:
    attr = {"enableDnsHostnames": "EnableDnsHostnames", "enableDnsSupport": "EnableDnsSupport"}
    current = ctx.settle(ctx.ec2.describe_vpc_attribute, VpcId=vpc_id, Attribute=name)[attr[name]][
        "Value"
    ]
    if current != wanted:
        ctx.settle(ctx.ec2.modify_vpc_attribute, VpcId=vpc_id, **{attr[name]: {"Value": wanted}})
        ctx.say(f"set {name}={wanted} on {vpc_id}")


def apply(ctx: Context) -> None:
    spec, ec2 = ctx.spec, ctx.ec2
    state = ctx.state()
    vpc = state.vpc
    if vpc is None:
        vpc = ec2.create_vpc(CidrBlock=spec.cidr, TagSpecifications=ctx.tag_spec("vpc", "vpc"))[
            "Vpc"
        ]
        # Right after the create, Describe may answer NotFound: that counts as "not yet".
        vpc = ctx.wait_for(
            lambda v=vpc["VpcId"]: first(ec2.describe_vpcs(VpcIds=[v])["Vpcs"]),
            lambda v: v["State"] == "available",
            f"VPC {vpc['VpcId']} to be available",
        )
        ctx.say(f"created VPC {vpc['VpcId']} {spec.cidr}")
    vpc_id = vpc["VpcId"]
    # DNS support must be on before DNS hostnames can be.
    _ensure_vpc_attribute(ctx, vpc_id, "enableDnsSupport", spec.enable_dns_support)
    _ensure_vpc_attribute(ctx, vpc_id, "enableDnsHostnames", spec.enable_dns_hostnames)

    wanted = {
        "public": (spec.public_subnets[0], spec.map_public_ip_on_launch),
        "private": (spec.private_subnets[0], False),
    }
    for role, (cidr, public_ip) in wanted.items():
        subnet = state.subnets.get(role)
        if subnet is None:
            subnet = ec2.create_subnet(
                VpcId=vpc_id,
                CidrBlock=cidr,
                AvailabilityZone=spec.az,
                TagSpecifications=ctx.tag_spec("subnet", role),
            )["Subnet"]
            subnet = ctx.wait_for(
                lambda s=subnet["SubnetId"]: first(ec2.describe_subnets(SubnetIds=[s])["Subnets"]),
                lambda s: s["State"] == "available",
                f"subnet {subnet['SubnetId']} to be available",
            )
            ctx.say(f"created {role} subnet {subnet['SubnetId']} {cidr}")
        if subnet.get("MapPublicIpOnLaunch", False) != public_ip:
            ctx.settle(
                ec2.modify_subnet_attribute,
                SubnetId=subnet["SubnetId"],
                MapPublicIpOnLaunch={"Value": public_ip},
            )
            ctx.say(f"set MapPublicIpOnLaunch={public_ip} on the {role} subnet")

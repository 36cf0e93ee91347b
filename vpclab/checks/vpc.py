"""Checks of the `vpc` step: the VPC, its DNS attributes and the two subnets."""

from __future__ import annotations

from vpclab.checks import Facts, Outcome, check, fail, ok

UP_VPC = "run 'vpclab up --through vpc'"


def _vpc_attribute(facts: Facts, name: str, key: str) -> Outcome:
    vpc = facts.state.vpc
    if vpc is None:
        return fail("no VPC tagged for this lab", UP_VPC)
    value = facts.cloud.ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute=name)[key]
    return ok(f"{name}={value['Value']}") if value["Value"] else fail(f"{name} is off")


@check("vpc.exists", "The lab VPC exists with the spec's CIDR", UP_VPC)
def vpc_exists(facts: Facts) -> Outcome:
    vpc = facts.state.vpc
    if vpc is None:
        return fail(f"no VPC tagged vpclab:lab={facts.spec.name}")
    if vpc["CidrBlock"] != facts.spec.cidr:
        return fail(
            f"CIDR is {vpc['CidrBlock']}, spec says {facts.spec.cidr}",
            "run 'vpclab down' then 'vpclab up' to rebuild it with the spec's CIDR",
        )
    return ok(f"{vpc['VpcId']} {vpc['CidrBlock']}")


@check(
    "vpc.dns_hostnames",
    "DNS hostnames are enabled in the VPC",
    "aws ec2 modify-vpc-attribute --enable-dns-hostnames, or run 'vpclab up --through vpc'",
)
def dns_hostnames(facts: Facts) -> Outcome:
    return _vpc_attribute(facts, "enableDnsHostnames", "EnableDnsHostnames")


@check(
    "vpc.dns_support",
    "DNS resolution is enabled in the VPC",
    "aws ec2 modify-vpc-attribute --enable-dns-support, or run 'vpclab up --through vpc'",
)
def dns_support(facts: Facts) -> Outcome:
    return _vpc_attribute(facts, "enableDnsSupport", "EnableDnsSupport")


def _subnet(facts: Facts, role: str, cidr: str) -> Outcome:
    subnet = facts.state.subnets.get(role)
    if subnet is None:
        return fail(f"no {role} subnet tagged for this lab")
    if subnet["CidrBlock"] != cidr:
        return fail(
            f"CIDR is {subnet['CidrBlock']}, spec says {cidr}",
            "run 'vpclab down' then 'vpclab up' to rebuild it",
        )
    return ok(f"{subnet['SubnetId']} {subnet['CidrBlock']} {subnet['AvailabilityZone']}")


@check("vpc.public_subnet", "The public subnet exists", UP_VPC)
def public_subnet(facts: Facts) -> Outcome:
    return _subnet(facts, "public", facts.spec.public_subnets[0])


@check("vpc.private_subnet", "The private subnet exists", UP_VPC)
def private_subnet(facts: Facts) -> Outcome:
    return _subnet(facts, "private", facts.spec.private_subnets[0])


def _auto_ip(facts: Facts, role: str, wanted: bool) -> Outcome:
    subnet = facts.state.subnets.get(role)
    if subnet is None:
        return fail(f"no {role} subnet", UP_VPC)
    on = subnet.get("MapPublicIpOnLaunch", False)
    detail = f"MapPublicIpOnLaunch={str(on).lower()}"
    return ok(detail) if on == wanted else fail(detail)


@check(
    "vpc.public_subnet_auto_ip",
    "The public subnet assigns public IPv4 addresses on launch",
    "aws ec2 modify-subnet-attribute --map-public-ip-on-launch on the public subnet",
)
def public_auto_ip(facts: Facts) -> Outcome:
    return _auto_ip(facts, "public", wanted=True)


@check(
    "vpc.private_subnet_no_auto_ip",
    "The private subnet assigns no public addresses",
    "aws ec2 modify-subnet-attribute --no-map-public-ip-on-launch on the private subnet",
)
def private_no_auto_ip(facts: Facts) -> Outcome:
    return _auto_ip(facts, "private", wanted=False)

"""Checks of the `nat` step: the Internet Gateway, the NAT gateway and the default routes."""

from __future__ import annotations

from vpclab.aws.inventory import associated_subnets, default_route_target
from vpclab.checks import Facts, Outcome, check, fail, ok
from vpclab.checks.vpc import UP_VPC

UP_NAT = "run 'vpclab up --through nat'"


@check("nat.igw_attached", "An Internet Gateway is attached to the VPC", UP_NAT)
def igw_attached(facts: Facts) -> Outcome:
    igw, vpc = facts.state.igw, facts.state.vpc
    if igw is None:
        return fail("no Internet Gateway tagged for this lab")
    attached = [a["VpcId"] for a in igw.get("Attachments", []) if a.get("State") != "detached"]
    if not vpc or vpc["VpcId"] not in attached:
        return fail(
            f"{igw['InternetGatewayId']} is not attached to the lab VPC",
            "aws ec2 attach-internet-gateway, or run 'vpclab up --through nat'",
        )
    return ok(f"{igw['InternetGatewayId']} attached")


@check("nat.gateway_available", "The NAT gateway is available with an Elastic IP", UP_NAT)
def nat_available(facts: Facts) -> Outcome:
    nat = facts.state.nat
    if nat is None:
        return fail("no NAT gateway tagged for this lab")
    public_ips = [a.get("PublicIp") for a in nat.get("NatGatewayAddresses", [])]
    if nat["State"] != "available" or not any(public_ips):
        return fail(f"{nat['NatGatewayId']} is {nat['State']} with addresses {public_ips}")
    return ok(f"{nat['NatGatewayId']} available, Elastic IP {public_ips[0]}")


@check(
    "nat.gateway_in_public_subnet",
    "The NAT gateway sits in the public subnet",
    "delete it and create it again in the public subnet ('vpclab up --through nat' does)",
)
def nat_in_public(facts: Facts) -> Outcome:
    nat, public = facts.state.nat, facts.state.subnets.get("public")
    if nat is None or public is None:
        return fail("no NAT gateway or no public subnet", UP_NAT)
    if nat["SubnetId"] != public["SubnetId"]:
        return fail(
            f"{nat['NatGatewayId']} is in {nat['SubnetId']}, not the public subnet "
            f"{public['SubnetId']}: it would have no route to the internet"
        )
    return ok(f"{nat['NatGatewayId']} in {public['SubnetId']}")


def _subnet_default_route(facts: Facts, role: str) -> tuple[str | None, str | None]:
    """(gateway of the subnet's 0.0.0.0/0 route, the subnet id)."""
    subnet = facts.state.subnets.get(role)
    if subnet is None:
        return None, None
    for table in facts.state.route_tables.values():
        if subnet["SubnetId"] in associated_subnets(table):
            return default_route_target(table), subnet["SubnetId"]
    main = facts.cloud.ec2.describe_route_tables(
        Filters=[
            {"Name": "vpc-id", "Values": [subnet["VpcId"]]},
            {"Name": "association.main", "Values": ["true"]},
        ]
    )["RouteTables"]
    return default_route_target(main[0] if main else None), subnet["SubnetId"]


@check(
    "nat.public_default_route",
    "The public subnet routes 0.0.0.0/0 to the Internet Gateway",
    "add 0.0.0.0/0 -> igw-... to the public route table, or run 'vpclab up --through nat'",
)
def public_route(facts: Facts) -> Outcome:
    target, subnet_id = _subnet_default_route(facts, "public")
    if subnet_id is None:
        return fail("no public subnet", UP_VPC)
    if not (target or "").startswith("igw-"):
        return fail(f"0.0.0.0/0 goes to {target or 'nowhere'}")
    return ok(f"0.0.0.0/0 -> {target}")


@check(
    "nat.private_default_route",
    "The private subnet routes 0.0.0.0/0 through the NAT gateway",
    "point 0.0.0.0/0 in the private route table at the NAT gateway (nat-...), "
    "or run 'vpclab up --through nat'",
)
def private_route(facts: Facts) -> Outcome:
    target, subnet_id = _subnet_default_route(facts, "private")
    if subnet_id is None:
        return fail("no private subnet", UP_VPC)
    if (target or "").startswith("igw-"):
        return fail(
            f"0.0.0.0/0 goes to the Internet Gateway {target}: the private subnet would be public",
            "replace the route so 0.0.0.0/0 goes to the NAT gateway, not the IGW",
        )
    if not (target or "").startswith("nat-"):
        return fail(f"0.0.0.0/0 goes to {target or 'nowhere'}: no outbound internet")
    return ok(f"0.0.0.0/0 -> {target}")

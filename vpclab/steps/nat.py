"""Step `nat`: the Internet Gateway, an Elastic IP and NAT gateway in the public subnet, and
the two route tables: public 0.0.0.0/0 -> IGW, private 0.0.0.0/0 -> NAT."""

from __future__ import annotations

from vpclab.aws.inventory import associated_subnets, default_route_target
from vpclab.errors import VpclabError
from vpclab.steps.context import Context

ANYWHERE = "0.0.0.0/0"


def ensure_route(ctx: Context, table: dict, destination: str, **target: str) -> None:
    """Point `destination` at `target` (GatewayId=..., NatGatewayId=... or
    VpcPeeringConnectionId=...), creating or replacing the route only when it differs."""
    current = default_route_target(table, destination)
    wanted = next(iter(target.values()))
    if current == wanted:
        return
    call = ctx.ec2.replace_route if current else ctx.ec2.create_route
    call(RouteTableId=table["RouteTableId"], DestinationCidrBlock=destination, **target)
    ctx.say(f"route {destination} -> {wanted} in {table['RouteTableId']}")


def ensure_association(ctx: Context, table: dict, subnet_id: str) -> None:
    if subnet_id in associated_subnets(table):
        return
    # A subnet has one association: move it if it sits in another of our tables.
    for assoc in ctx.ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}]
    )["RouteTables"]:
        for a in assoc.get("Associations", []):
            if a.get("SubnetId") == subnet_id:
                ctx.ec2.replace_route_table_association(
                    AssociationId=a["RouteTableAssociationId"], RouteTableId=table["RouteTableId"]
                )
                return
    ctx.ec2.associate_route_table(RouteTableId=table["RouteTableId"], SubnetId=subnet_id)
    ctx.say(f"associated {subnet_id} with {table['RouteTableId']}")


def apply(ctx: Context) -> None:
    ec2 = ctx.ec2
    state = ctx.state()
    if state.vpc is None or set(state.subnets) != {"public", "private"}:
        raise VpclabError("the VPC and its subnets are missing", "run 'vpclab up --through vpc'")
    vpc_id = state.vpc["VpcId"]
    public, private = state.subnets["public"]["SubnetId"], state.subnets["private"]["SubnetId"]

    igw = (
        state.igw
        or ec2.create_internet_gateway(TagSpecifications=ctx.tag_spec("internet-gateway", "igw"))[
            "InternetGateway"
        ]
    )
    if not any(a["VpcId"] == vpc_id for a in igw.get("Attachments", [])):
        ec2.attach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc_id)
        ctx.say(f"attached {igw['InternetGatewayId']} to {vpc_id}")

    nat_id = None
    if ctx.spec.enable_nat_gateway:
        nat = state.nat
        if nat is None:
            eip = (
                state.eips[0]
                if state.eips
                else ec2.allocate_address(
                    Domain="vpc", TagSpecifications=ctx.tag_spec("elastic-ip", "nat")
                )
            )
            nat = ec2.create_nat_gateway(
                SubnetId=public,
                AllocationId=eip["AllocationId"],
                TagSpecifications=ctx.tag_spec("natgateway", "nat"),
            )["NatGateway"]
            ctx.say(f"created NAT gateway {nat['NatGatewayId']} in the public subnet")
        if nat["State"] != "available":
            ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=[nat["NatGatewayId"]])
        nat_id = nat["NatGatewayId"]

    for role, subnet_id in (("public", public), ("private", private)):
        table = state.route_tables.get(role)
        if table is None:
            table = ec2.create_route_table(
                VpcId=vpc_id, TagSpecifications=ctx.tag_spec("route-table", role)
            )["RouteTable"]
            ctx.say(f"created {role} route table {table['RouteTableId']}")
        if role == "public":
            ensure_route(ctx, table, ANYWHERE, GatewayId=igw["InternetGatewayId"])
        elif nat_id:
            ensure_route(ctx, table, ANYWHERE, NatGatewayId=nat_id)
        ensure_association(ctx, table, subnet_id)

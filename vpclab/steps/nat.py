"""Step `nat`: the Internet Gateway, an Elastic IP and NAT gateway in the public subnet, and
the two route tables: public 0.0.0.0/0 -> IGW, private 0.0.0.0/0 -> NAT."""

from __future__ import annotations

from collections.abc import Collection

from vpclab.aws.inventory import associated_subnets, route_target, route_to
from vpclab.errors import VpclabError
from vpclab.steps.context import Context, first

ANYWHERE = "0.0.0.0/0"
GONE_NAT = ("deleting", "deleted", "failed")


def ensure_route(
    ctx: Context,
    table: dict,
    destination: str,
    owned: Collection[str] | None = None,
    **target: str,
) -> None:
    """Point `destination` at `target` (GatewayId=..., NatGatewayId=... or
    VpcPeeringConnectionId=...), creating or replacing the route only when it differs.
    A blackhole (its target deleted) is replaced too. With `owned` (a table that is not the
    lab's, e.g. the default VPC's), a route whose target is not in `owned` is never
    replaced: that is an error with a hint."""
    route = route_to(table, destination)
    wanted = next(iter(target.values()))
    table_id = table["RouteTableId"]
    current = route_target(route) if route else None
    if current == wanted and route and route.get("State") != "blackhole":
        return
    if route and owned is not None and current not in owned:
        raise VpclabError(
            f"route table {table_id} already sends {destination} to {current}, which vpclab "
            "did not create",
            f"remove that route yourself if it is unused, or pick another cidr than "
            f"{destination} in lab.toml",
        )
    call = ctx.ec2.replace_route if route else ctx.ec2.create_route
    ctx.settle(call, RouteTableId=table_id, DestinationCidrBlock=destination, **target)
    ctx.say(f"route {destination} -> {wanted} in {table_id}")


def ensure_association(ctx: Context, table: dict, subnet_id: str) -> None:
    if subnet_id in associated_subnets(table):
        return
    # A subnet has one association: move it if it sits in another of our tables.
    for assoc in ctx.ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}]
    )["RouteTables"]:
        for a in assoc.get("Associations", []):
            if a.get("SubnetId") == subnet_id:
                ctx.settle(
                    ctx.ec2.replace_route_table_association,
                    AssociationId=a["RouteTableAssociationId"],
                    RouteTableId=table["RouteTableId"],
                )
                return
    ctx.settle(
        ctx.ec2.associate_route_table, RouteTableId=table["RouteTableId"], SubnetId=subnet_id
    )
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
        ctx.settle(
            ec2.attach_internet_gateway, InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc_id
        )
        ctx.say(f"attached {igw['InternetGatewayId']} to {vpc_id}")

    nat_id = None
    if ctx.spec.enable_nat_gateway:
        nat = state.nat or _create_nat(ctx, public, vpc_id, state.eips)
        if nat["State"] != "available":
            nat = ctx.wait_for(
                lambda n=nat["NatGatewayId"]: first(
                    ec2.describe_nat_gateways(NatGatewayIds=[n])["NatGateways"]
                ),
                lambda n: n["State"] != "pending",
                f"NAT gateway {nat['NatGatewayId']} to be available",
            )
            if nat["State"] != "available":
                raise VpclabError(
                    f"NAT gateway {nat['NatGatewayId']} is {nat['State']}: "
                    f"{nat.get('FailureMessage', 'no reason given')}",
                    "run 'vpclab down', then 'vpclab up' again",
                )
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


def _create_nat(ctx: Context, subnet_id: str, vpc_id: str, eips: list[dict]) -> dict:
    """Allocate the Elastic IP (unless one is tagged already) and create the NAT with a fixed
    idempotency token, so a rerun after a crash gets the same NAT back."""
    ec2 = ctx.ec2
    free = [e for e in eips if not e.get("AssociationId")]
    eip = (
        free[0]
        if free
        else ec2.allocate_address(Domain="vpc", TagSpecifications=ctx.tag_spec("elastic-ip", "nat"))
    )
    token = ctx.token("nat", subnet_id, vpc_id)
    for _ in range(3):
        nat = ctx.settle(
            ec2.create_nat_gateway,
            SubnetId=subnet_id,
            AllocationId=eip["AllocationId"],
            ClientToken=token,
            TagSpecifications=ctx.tag_spec("natgateway", "nat"),
        )["NatGateway"]
        if nat["State"] not in GONE_NAT:
            ctx.say(f"created NAT gateway {nat['NatGatewayId']} in the public subnet")
            return nat
        # The token named a NAT deleted since: a new token for a new one.
        token = ctx.token("nat", subnet_id, vpc_id, nat["NatGatewayId"])
    raise VpclabError(
        f"NAT gateway creation in {subnet_id} keeps returning deleted gateways",
        "run 'vpclab down', then 'vpclab up' again",
    )

"""Step `jenkins`: the deployment server in the default VPC, and the VPC peering (accepted,
routed on both sides) that lets it reach the web server over private addresses."""

from __future__ import annotations

from vpclab.errors import VpclabError
from vpclab.spec import DEFAULT_VPC_CIDR
from vpclab.steps.compute import Ingress, ensure_instance, ensure_key_pair, ensure_security_group
from vpclab.steps.context import Context
from vpclab.steps.nat import ensure_route

JENKINS_UI = 8080


def apply(ctx: Context) -> None:
    spec, ec2 = ctx.spec, ctx.ec2
    state = ctx.state()
    if state.vpc is None or set(state.route_tables) != {"public", "private"}:
        raise VpclabError(
            "the VPC and its route tables are missing", "run 'vpclab up --through nat'"
        )
    if state.default_vpc is None or state.default_subnet is None:
        raise VpclabError(
            f"no default VPC with a subnet in {spec.region}",
            "create one (aws ec2 create-default-vpc) and run again",
        )
    default_vpc = state.default_vpc["VpcId"]

    key_name = ensure_key_pair(ctx, "jenkins", state.key_pairs.get("jenkins"))
    group_id = ensure_security_group(
        ctx,
        "jenkins",
        default_vpc,
        state.security_groups.get("jenkins"),
        [
            Ingress(spec.ports.ssh, cidr=spec.admin_cidr, description="admin"),
            Ingress(JENKINS_UI, cidr=spec.admin_cidr, description="admin (Jenkins UI)"),
        ],
        "Jenkins deployment server",
    )
    ensure_instance(
        ctx,
        "jenkins",
        state.instances.get("jenkins"),
        state.default_subnet["SubnetId"],
        group_id,
        key_name,
        public_ip=True,
    )

    peering = state.peering
    if peering is None:
        peering = ec2.create_vpc_peering_connection(
            VpcId=default_vpc,
            PeerVpcId=state.vpc["VpcId"],
            TagSpecifications=ctx.tag_spec("vpc-peering-connection", "peering"),
        )["VpcPeeringConnection"]
        ctx.say(f"requested peering {peering['VpcPeeringConnectionId']}")
    pcx = peering["VpcPeeringConnectionId"]
    if peering["Status"]["Code"] != "active":
        ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
        ec2.get_waiter("vpc_peering_connection_exists").wait(
            VpcPeeringConnectionIds=[pcx], Filters=[{"Name": "status-code", "Values": ["active"]}]
        )
        ctx.say(f"accepted peering {pcx}")
    ensure_route(ctx, state.default_route_table, spec.cidr, VpcPeeringConnectionId=pcx)
    for role in ("public", "private"):
        ensure_route(
            ctx, state.route_tables[role], str(DEFAULT_VPC_CIDR), VpcPeeringConnectionId=pcx
        )

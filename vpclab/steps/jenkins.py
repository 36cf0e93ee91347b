"""Step `jenkins`: the deployment server in the default VPC, and the VPC peering (accepted,
routed on both sides) that lets it reach the web server over private addresses."""

from __future__ import annotations

from vpclab.aws import jenkins_setup, retry, tags
from vpclab.errors import VpclabError
from vpclab.facts.security_groups import Ingress
from vpclab.steps.compute import (
    ensure_instance,
    ensure_key_pair,
    ensure_security_group,
    profile_not_seen_yet,
    revoke_extra,
)
from vpclab.steps.context import Context, first
from vpclab.steps.nat import ensure_route

# A peering goes initiating-request -> pending-acceptance -> (accept) provisioning -> active.
SETTLED = ("pending-acceptance", "active")
DEAD = ("failed", "rejected", "expired", "deleted", "deleting")


def apply(ctx: Context) -> None:
    spec = ctx.spec
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
    # SSH only: the Jenkins UI is reached through an SSH tunnel (docs/aws.md), so its login
    # never crosses the internet in plain HTTP. An older lab's 8080 rule is removed.
    rules = [Ingress(spec.ports.ssh, cidr=spec.admin_cidr, description="admin")]
    group = state.security_groups.get("jenkins")
    group_id = ensure_security_group(
        ctx, "jenkins", default_vpc, group, rules, "Jenkins deployment server"
    )
    revoke_extra(ctx, "jenkins", group, rules)
    on_aws = ctx.site.runs_jenkins  # the user data installs Jenkins
    # Both targets: Deploy and Verify read the lab with the profile's keys (IMDS locally too).
    profile = ensure_profile(ctx)
    if on_aws:  # read by the user data through the profile, before Jenkins first starts
        jenkins_setup.admin_password(ctx.cloud.client("ssm"), spec.name, ctx.say, ctx.creator)
    instance = ensure_instance(
        ctx,
        "jenkins",
        state.instances.get("jenkins"),
        state.default_subnet["SubnetId"],
        group_id,
        key_name,
        public_ip=True,
        lab_vpc=state.vpc["VpcId"],
        user_data=aws_user_data(ctx) if on_aws else None,
        profile=profile,
    )
    associate_profile(ctx, instance["InstanceId"], profile)
    tag_target(ctx, instance)

    pcx = ensure_peering(ctx, state.peering, default_vpc, state.vpc["VpcId"])
    # The default VPC's table is not the lab's: only routes through our peerings are ours.
    owned = state.tagged.peering_ids | {pcx}
    ensure_route(ctx, state.default_route_table, spec.cidr, owned, VpcPeeringConnectionId=pcx)
    default_cidr = state.default_vpc["CidrBlock"]  # read, not assumed
    for role in ("public", "private"):
        ensure_route(ctx, state.route_tables[role], default_cidr, VpcPeeringConnectionId=pcx)


def ensure_peering(ctx: Context, peering: dict | None, default_vpc: str, lab_vpc: str) -> str:
    """Request the peering, accept it once it is pending-acceptance, wait until active. A rerun
    converges from any state: it never accepts twice."""
    ec2 = ctx.ec2
    if peering is None:
        peering = ec2.create_vpc_peering_connection(
            VpcId=default_vpc,
            PeerVpcId=lab_vpc,
            TagSpecifications=ctx.tag_spec("vpc-peering-connection", "peering"),
        )["VpcPeeringConnection"]
        ctx.say(f"requested peering {peering['VpcPeeringConnectionId']}")
    pcx = peering["VpcPeeringConnectionId"]
    if peering["Status"]["Code"] == "active":
        return pcx

    def read() -> dict | None:
        found = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])
        return first(found["VpcPeeringConnections"])

    def status_in(codes: tuple[str, ...]):
        return lambda p: p["Status"]["Code"] in codes + DEAD

    peering = ctx.wait_for(read, status_in(SETTLED), f"peering {pcx} to await acceptance")
    if peering["Status"]["Code"] == "pending-acceptance":
        ctx.settle(ec2.accept_vpc_peering_connection, VpcPeeringConnectionId=pcx)
        ctx.say(f"accepted peering {pcx}")
        peering = ctx.wait_for(read, status_in(("active",)), f"peering {pcx} to be active")
    if peering["Status"]["Code"] != "active":
        raise VpclabError(
            f"peering {pcx} is {peering['Status']['Code']}: "
            f"{peering['Status'].get('Message', 'no reason given')}",
            "run 'vpclab down', then 'vpclab up' again",
        )
    return pcx


# --- real Jenkins (user data, aws target) and its read-only instance profile (both) ---------


def aws_user_data(ctx: Context) -> str:
    """Jenkins LTS, its plugins and Configuration as Code, on the project's repository."""
    repo = jenkins_setup.repo_url("Jenkins on aws (its workload_4 job)")
    return jenkins_setup.user_data(ctx.spec.name, ctx.spec.region, repo)


def ensure_profile(ctx: Context) -> str:
    """The instance profile that lets Deploy and Verify read the lab's state (no keys)."""
    account = ctx.cloud.client("sts").get_caller_identity()["Account"]
    return jenkins_setup.ensure_profile(
        ctx.cloud.client("iam"), ctx.spec.name, ctx.spec.region, account, ctx.say, ctx.creator
    )


def tag_target(ctx: Context, instance: dict) -> None:
    """The target on the Jenkins server itself: its builds read it, and the lab's name,
    from its own tags (`aws.instance`), so nothing has to hand them either."""
    if tags.tags_of(instance).get(tags.TARGET) == ctx.cloud.target:
        return
    ctx.settle(
        ctx.ec2.create_tags,
        Resources=[instance["InstanceId"]],
        Tags=[{"Key": tags.TARGET, "Value": str(ctx.cloud.target)}],
    )


def associate_profile(ctx: Context, instance_id: str, profile: str) -> None:
    found = ctx.ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}]
    )["IamInstanceProfileAssociations"]
    current = [a for a in found if a.get("State") in ("associating", "associated")]
    if any(a["IamInstanceProfile"]["Arn"].endswith(f"/{profile}") for a in current):
        return
    if current:  # another profile: Jenkins gets exactly the lab's read-only one
        ctx.ec2.replace_iam_instance_profile_association(
            IamInstanceProfile={"Name": profile}, AssociationId=current[0]["AssociationId"]
        )
    else:
        retry.call(
            lambda: ctx.ec2.associate_iam_instance_profile(
                IamInstanceProfile={"Name": profile}, InstanceId=instance_id
            ),
            when=profile_not_seen_yet,
            what=f"EC2 to see the instance profile {profile}",
            budget=ctx.pacing.settle_budget,
            pacing=ctx.pacing,
            say=ctx.say,
        )
    ctx.say(f"associated instance profile {profile} with the Jenkins server {instance_id}")

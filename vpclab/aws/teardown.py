"""Teardown in dependency order, over every resource tagged for the lab (duplicates included).
Works on a lab left half-built at any point; idempotent; never ends claiming success without
reading the state again.

AWS keeps dependencies alive for a while after a delete: an instance's interface and public
address mapping linger after termination, a NAT's address until it is `deleted`. So the
instances and NATs are stopped first without waiting (billing stops now), then waited for;
later deletes retry DependencyViolation and InvalidIPAddress.InUse for about five minutes.
moto enforces few of these rules, so the order is asserted by a test, not by moto.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vpclab.aws import jenkins_setup, owner, retry, secrets, tags
from vpclab.aws.inventory import LabState, Tagged, read_state
from vpclab.aws.retry import Pacing
from vpclab.aws.session import Cloud
from vpclab.errors import UsageError, VpclabError
from vpclab.spec import STEPS

Say = Callable[[str], None]


@dataclass(frozen=True)
class Action:
    description: str
    run: Callable[[], None]


class TeardownIncomplete(VpclabError):
    """`down` stopped, or finished with something tagged still there: named in the line."""


def _ids_filter(name: str, ids: list[str]) -> list[dict]:
    # A filter, not an id list: an id that is gone altogether is then no NotFound error.
    return [{"Name": name, "Values": ids}]


def plan(
    cloud: Cloud,
    state: LabState,
    keys_dir: Path,
    pacing: Pacing | None = None,
    say: Say = lambda _line: None,
) -> list[Action]:
    ec2 = cloud.ec2
    pacing = pacing or Pacing()
    tagged = state.tagged
    actions: list[Action] = []

    def add(description: str, run: Callable[[], None]) -> None:
        actions.append(Action(description, run))

    def add_retried(description: str, fn: Callable[[], object], what: str) -> None:
        """Add a call retried while AWS still holds what it depends on (an interface, an
        address mapping), for up to the dependency budget."""
        add(
            description,
            lambda: retry.call(
                fn,
                when=retry.lingering,
                what=what,
                budget=pacing.dependency_budget,
                pacing=pacing,
                say=say,
            ),
        )

    def add_wait(
        description: str, read: Callable[[], list[dict]], state: Callable[[dict], str],
        settled: tuple[str, ...], what: str,
    ) -> None:  # fmt: skip
        """Add a wait until every resource `read` returns is in a `settled` state."""
        add(
            description,
            lambda: retry.poll(
                read,
                lambda found: all(state(r) in settled for r in found),
                what=what,
                budget=pacing.state_budget,
                pacing=pacing,
                say=say,
                hint="run 'vpclab down' again to continue",
            ),
        )

    # 1. Stop what bills by the hour, without waiting in between.
    to_terminate = [
        i["InstanceId"]
        for i in tagged.instances
        if i["State"]["Name"] not in ("shutting-down", "terminated")
    ]
    if to_terminate:
        add(
            f"terminate instances {', '.join(to_terminate)}",
            lambda: ec2.terminate_instances(InstanceIds=to_terminate),
        )
    for nat in tagged.nats:
        if nat["State"] in ("pending", "available"):
            add(
                f"delete NAT gateway {nat['NatGatewayId']}",
                lambda n=nat["NatGatewayId"]: ec2.delete_nat_gateway(NatGatewayId=n),
            )

    # 2. Then wait for both, including what an earlier `down` left going away.
    instance_ids = [i["InstanceId"] for i in tagged.instances]
    if instance_ids:
        add_wait(
            f"wait until instances {', '.join(instance_ids)} are terminated",
            lambda: [
                i
                for r in ec2.describe_instances(Filters=_ids_filter("instance-id", instance_ids))[
                    "Reservations"
                ]
                for i in r["Instances"]
            ],
            lambda i: i["State"]["Name"],
            ("terminated",),
            f"instances {', '.join(instance_ids)} to terminate",
        )
    nat_ids = [n["NatGatewayId"] for n in tagged.nats]
    if nat_ids:
        add_wait(
            f"wait until NAT gateways {', '.join(nat_ids)} are deleted",
            lambda: ec2.describe_nat_gateways(Filter=_ids_filter("nat-gateway-id", nat_ids))[
                "NatGateways"
            ],
            lambda n: n["State"],
            ("deleted", "failed"),
            f"NAT gateways {', '.join(nat_ids)} to be deleted",
        )

    for eip in tagged.eips:
        alloc = eip["AllocationId"]
        add_retried(
            f"release Elastic IP {eip.get('PublicIp')}",
            lambda a=alloc: ec2.release_address(AllocationId=a),
            f"release of {alloc}",
        )

    for igw in tagged.igws:
        igw_id = igw["InternetGatewayId"]
        for attachment in igw.get("Attachments", []):
            vpc_id = attachment["VpcId"]
            add_retried(
                f"detach {igw_id} from {vpc_id}",
                lambda g=igw_id, v=vpc_id: ec2.detach_internet_gateway(
                    InternetGatewayId=g, VpcId=v
                ),
                f"detach of {igw_id}",
            )
        add_retried(
            f"delete Internet Gateway {igw_id}",
            lambda g=igw_id: ec2.delete_internet_gateway(InternetGatewayId=g),
            f"delete of {igw_id}",
        )

    # The default VPC is not the lab's: remove only the routes through the lab's peerings.
    default_table = state.default_route_table or {}
    for route in default_table.get("Routes", []):
        if route.get("VpcPeeringConnectionId") in tagged.peering_ids:
            table_id, dest = default_table["RouteTableId"], route["DestinationCidrBlock"]
            add(
                f"delete route {dest} -> {route['VpcPeeringConnectionId']} from {table_id}",
                lambda t=table_id, d=dest: ec2.delete_route(RouteTableId=t, DestinationCidrBlock=d),
            )
    for peering in tagged.peerings:
        pcx = peering["VpcPeeringConnectionId"]
        add(
            f"delete VPC peering {pcx}",
            lambda p=pcx: ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=p),
        )

    for table in tagged.route_tables:
        table_id = table["RouteTableId"]
        for assoc in table.get("Associations", []):
            if not assoc.get("Main"):
                add(
                    f"disassociate {assoc.get('SubnetId')} from {table_id}",
                    lambda a=assoc["RouteTableAssociationId"]: ec2.disassociate_route_table(
                        AssociationId=a
                    ),
                )
        add_retried(
            f"delete route table {table_id}",
            lambda t=table_id: ec2.delete_route_table(RouteTableId=t),
            f"delete of {table_id}",
        )

    group_ids = sorted({g["GroupId"] for g in tagged.security_groups})
    for group_id in group_ids:
        refs = [
            r["SecurityGroupRuleId"]
            for r in ec2.describe_security_group_rules(
                Filters=[{"Name": "group-id", "Values": [group_id]}]
            )["SecurityGroupRules"]
            if not r.get("IsEgress") and r.get("ReferencedGroupInfo", {}).get("GroupId")
        ]
        if refs:
            add(
                f"revoke {len(refs)} group-to-group rules of {group_id}",
                lambda g=group_id, ids=refs: ec2.revoke_security_group_ingress(
                    GroupId=g, SecurityGroupRuleIds=ids
                ),
            )
    # Last the containers, each once nothing in it is left (retried while AWS lags).
    subnet_ids = [s["SubnetId"] for s in tagged.subnets]
    for kind, ids, delete in (
        ("security group", group_ids, lambda g: ec2.delete_security_group(GroupId=g)),
        ("subnet", subnet_ids, lambda s: ec2.delete_subnet(SubnetId=s)),
        ("VPC", [v["VpcId"] for v in tagged.vpcs], lambda v: ec2.delete_vpc(VpcId=v)),
    ):
        for rid in ids:
            add_retried(f"delete {kind} {rid}", lambda d=delete, r=rid: d(r), f"delete of {rid}")

    for key in tagged.key_pairs:
        name = key["KeyName"]

        def delete_key(n: str = name) -> None:
            ec2.delete_key_pair(KeyName=n)
            for suffix in (".pem", ".pub"):
                (keys_dir / f"{n}{suffix}").unlink(missing_ok=True)

        add(f"delete key pair {name} and its local key files", delete_key)
    return actions


def down(
    cloud: Cloud,
    lab: str,
    az: str | None,
    keys_dir: Path,
    *,
    say: Say = lambda _line: None,
    dry_run: bool = False,
    pacing: Pacing | None = None,
    creator: str | None = None,
) -> list[str]:
    """Tear the lab down; return what was done. Raises TeardownIncomplete naming what is
    left when an action fails or the state read afterwards is not empty. With `creator`
    (target aws), a lab tagged by someone else is refused before any change."""
    state = read_state(cloud, lab, az)
    if creator:
        owner.refuse_foreign(state, creator)
    actions = plan(cloud, state, keys_dir, pacing, say)
    _run(actions, cloud, lab, az, say, dry_run, "down")
    # Last: Jenkins' instance profile outlives its instance (both targets have one).
    name = jenkins_setup.names(lab, cloud.region)
    if dry_run:
        say(f"would delete Jenkins' instance profile and role {name}")
    else:
        jenkins_setup.delete_profile(cloud.client("iam"), lab, cloud.region, say, creator)
    # The lab's secrets (SECRET_KEY, admin passwords), on both targets: nothing else would
    # ever delete them.
    ssm = cloud.client("ssm")
    secrets.delete_tagged(ssm, lab, say, dry_run, creator)
    if not dry_run:
        left = read_state(cloud, lab, az).tagged.leftovers()
        left += [f"SSM parameter {p}" for p in secrets.tagged(ssm, lab)]
        if left:
            raise TeardownIncomplete(
                f"still there after down: {', '.join(left)}", "run 'vpclab down' again"
            )
    return [a.description for a in actions]


def _run(
    actions: list[Action], cloud: Cloud, lab: str, az: str | None, say: Say, dry_run: bool,
    command: str,
) -> None:  # fmt: skip
    """Run the actions in order; the first that fails stops the rest, named with what is left."""
    for action in actions:
        say(("would " if dry_run else "") + action.description)
        if dry_run:
            continue
        try:
            action.run()
        except Exception as exc:
            left = read_state(cloud, lab, az).tagged.leftovers()
            raise TeardownIncomplete(
                f"{command.split()[0]} stopped at '{action.description}' ({_short(exc)}); "
                f"still there: {', '.join(left) or 'nothing tagged'}",
                f"run 'vpclab {command}' again to continue",
            ) from exc


# The steps that make AWS resources, and which instance roles each one launches. A step's
# reset takes the later ones with it: each stands on it (AWS refuses to detach a gateway
# while instances hold public addresses, or to delete a group another group's rule names).
CONTROL_PLANE = ("vpc", "nat", "jenkins", "instances")
ROLE_STEP = {"jenkins": "jenkins", **dict.fromkeys(("web", "app", "monitoring"), "instances")}


def steps_reset(step: str) -> list[str]:
    """The steps `reset(step)` removes: `step` and the control-plane steps after it."""
    if step not in STEPS:
        raise UsageError(f"unknown step {step!r}", f"use one of {', '.join(CONTROL_PLANE)}")
    if step not in CONTROL_PLANE:
        raise VpclabError(
            f"step {step!r} changes the hosts only: there is nothing of it in AWS to remove",
            "run its notebook again (its cells overwrite what they wrote), or reset "
            "instances to start from new hosts",
        )
    return list(CONTROL_PLANE[CONTROL_PLANE.index(step) :])


def _of_steps(tagged: Tagged, steps: list[str]) -> Tagged:
    def launched(items: list[dict]) -> list[dict]:
        return [r for r in items if ROLE_STEP.get(tags.role_of(r) or "") in steps]

    vpc, nat, jenkins = ("vpc" in steps), ("nat" in steps), ("jenkins" in steps)
    return Tagged(
        vpcs=tagged.vpcs if vpc else [],
        subnets=tagged.subnets if vpc else [],
        route_tables=tagged.route_tables if nat else [],
        igws=tagged.igws if nat else [],
        eips=tagged.eips if nat else [],
        nats=tagged.nats if nat else [],
        peerings=tagged.peerings if jenkins else [],
        peering_ids=tagged.peering_ids if jenkins else set(),
        security_groups=launched(tagged.security_groups),
        instances=launched(tagged.instances),
        key_pairs=launched(tagged.key_pairs),
    )


def reset(
    cloud: Cloud,
    lab: str,
    az: str | None,
    keys_dir: Path,
    step: str,
    *,
    say: Say = lambda _line: None,
    dry_run: bool = False,
    pacing: Pacing | None = None,
    creator: str | None = None,
) -> list[str]:
    """Remove `step`'s resources and those of the control-plane steps after it, so a student
    can do the step again; the earlier steps are kept. Returns what was done."""
    steps = steps_reset(step)
    state = read_state(cloud, lab, az)
    if creator:
        owner.refuse_foreign(state, creator)
    state.tagged = _of_steps(state.tagged, steps)
    actions = plan(cloud, state, keys_dir, pacing, say)
    _run(actions, cloud, lab, az, say, dry_run, f"reset {step}")
    if not dry_run:
        left = _of_steps(read_state(cloud, lab, az).tagged, steps).leftovers()
        if left:
            raise TeardownIncomplete(
                f"still there after reset: {', '.join(left)}", f"run 'vpclab reset {step}' again"
            )
    return [a.description for a in actions]


def _short(exc: BaseException) -> str:
    code = retry.error_code(exc)
    if code:
        return code
    return exc.problem if isinstance(exc, VpclabError) else type(exc).__name__

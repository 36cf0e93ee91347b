"""`down` leaves nothing tagged, from any step boundary, in dependency order."""

from __future__ import annotations

import pytest

from vpclab.aws.tags import LAB
from vpclab.spec import STEPS

BUILT = [s for s in STEPS if s in ("vpc", "nat", "jenkins", "instances")]

# Each operation must come after every operation listed before it.
ORDER = [
    "TerminateInstances",
    "DeleteNatGateway",
    "ReleaseAddress",
    "DetachInternetGateway",
    "DeleteInternetGateway",
    "DeleteVpcPeeringConnection",
    "DeleteRouteTable",
    "RevokeSecurityGroupIngress",
    "DeleteSecurityGroup",
    "DeleteSubnet",
    "DeleteVpc",
    "DeleteKeyPair",
]


def tagged_leftovers(lab) -> list[str]:
    ec2 = lab.cloud.ec2
    flt = [{"Name": f"tag:{LAB}", "Values": [lab.spec.name]}]
    left = [v["VpcId"] for v in ec2.describe_vpcs(Filters=flt)["Vpcs"]]
    left += [s["SubnetId"] for s in ec2.describe_subnets(Filters=flt)["Subnets"]]
    left += [r["RouteTableId"] for r in ec2.describe_route_tables(Filters=flt)["RouteTables"]]
    left += [
        g["InternetGatewayId"]
        for g in ec2.describe_internet_gateways(Filters=flt)["InternetGateways"]
    ]
    left += [a["AllocationId"] for a in ec2.describe_addresses(Filters=flt)["Addresses"]]
    left += [
        n["NatGatewayId"]
        for n in ec2.describe_nat_gateways(Filter=flt)["NatGateways"]
        if n["State"] != "deleted"
    ]
    left += [
        p["VpcPeeringConnectionId"]
        for p in ec2.describe_vpc_peering_connections(Filters=flt)["VpcPeeringConnections"]
        if p["Status"]["Code"] != "deleted"
    ]
    left += [g["GroupId"] for g in ec2.describe_security_groups(Filters=flt)["SecurityGroups"]]
    left += [
        i["InstanceId"]
        for r in ec2.describe_instances(Filters=flt)["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated"
    ]
    left += [k["KeyName"] for k in ec2.describe_key_pairs(Filters=flt)["KeyPairs"]]
    return left


def test_full_lab_down_leaves_nothing(built_lab):
    assert len(tagged_leftovers(built_lab)) > 15
    built_lab.down()
    assert tagged_leftovers(built_lab) == []
    assert list(built_lab.keys_dir.glob("*.pem")) == []
    main = built_lab.context().state().default_route_table
    assert all(r.get("DestinationCidrBlock") != built_lab.spec.cidr for r in main["Routes"])


@pytest.mark.parametrize("through", BUILT)
def test_down_after_each_step(lab, through):
    lab.up(through=through)
    lab.down()
    assert tagged_leftovers(lab) == []


def test_down_twice_is_harmless(built_lab):
    built_lab.down()
    log = built_lab.cloud.log
    log.clear()
    assert built_lab.down() == []
    assert log.mutating == []


def test_down_order(built_lab):
    log = built_lab.cloud.log
    log.clear()
    built_lab.down()
    ops = log.mutating
    first = {op: ops.index(op) for op in ORDER}
    last = {op: len(ops) - 1 - ops[::-1].index(op) for op in ORDER}
    for earlier, later in zip(ORDER, ORDER[1:], strict=False):
        assert last[earlier] < first[later], f"{earlier} must finish before {later}: {ops}"


def test_dry_run_changes_nothing(built_lab):
    before = tagged_leftovers(built_lab)
    log = built_lab.cloud.log
    log.clear()
    planned = built_lab.down(dry_run=True)
    assert planned and planned[0].startswith("terminate instances")
    assert log.mutating == []
    assert tagged_leftovers(built_lab) == before


def roles_left(lab) -> dict[str, list[str]]:
    """The lab's tagged resources that are still there, by kind: their roles."""
    state = lab.context().state()
    tagged = state.tagged
    return {
        "vpc": [v["VpcId"] for v in tagged.vpcs],
        "subnets": sorted(state.subnets),
        "route_tables": sorted(state.route_tables),
        "nat": [n["NatGatewayId"] for n in tagged.nats],
        "peering": [p["VpcPeeringConnectionId"] for p in tagged.peerings],
        "instances": sorted(state.instances),
        "groups": sorted(state.security_groups),
        "keys": sorted(state.key_pairs),
    }


def test_reset_nat_removes_it_and_what_stands_on_it_and_keeps_the_vpc(built_lab):
    built_lab.reset("nat")
    left = roles_left(built_lab)
    assert left["vpc"] and left["subnets"] == ["private", "public"]
    assert {k: v for k, v in left.items() if k not in ("vpc", "subnets")} == {
        "route_tables": [], "nat": [], "peering": [], "instances": [], "groups": [], "keys": [],
    }  # fmt: skip
    assert list(built_lab.keys_dir.glob("*.pem")) == []
    # Redone from 02 on, the lab is whole again: no check FAILs.
    built_lab.up(through="instances")
    failing = [r.id for r in built_lab.verify(through="instances") if r.status == "FAIL"]
    assert failing == []


def test_reset_instances_keeps_jenkins_and_the_network(built_lab):
    before = roles_left(built_lab)
    log = built_lab.cloud.log
    log.clear()
    built_lab.reset("instances")
    left = roles_left(built_lab)
    assert left["instances"] == ["jenkins"] and left["groups"] == ["jenkins"]
    assert left["keys"] == ["jenkins"]
    assert {k: left[k] for k in ("vpc", "route_tables", "nat", "peering")} == {
        k: before[k] for k in ("vpc", "route_tables", "nat", "peering")
    }
    assert "DeleteNatGateway" not in log.mutating and "DeleteVpc" not in log.mutating


def test_reset_dry_run_changes_nothing(built_lab):
    before = tagged_leftovers(built_lab)
    planned = built_lab.reset("jenkins", dry_run=True)
    assert any("peering" in line for line in planned)
    assert tagged_leftovers(built_lab) == before

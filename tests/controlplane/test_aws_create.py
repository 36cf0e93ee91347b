"""`up` as AWS behaves: NotFound right after a create, a NAT that stays pending, peering
states, blackhole and foreign routes, idempotency tokens, hardened launches."""

from __future__ import annotations

import stat

import pytest

from tests.controlplane.awsfake import Inject, by_tag, ops
from vpclab.aws.retry import FakeClock, Pacing
from vpclab.aws.tags import ROLE, tags_of
from vpclab.checklist import Status
from vpclab.errors import VpclabError
from vpclab.lab import Lab


@pytest.fixture
def clock(lab) -> FakeClock:
    clock = FakeClock()
    lab.pacing = Pacing.fake(clock)
    return clock


def no_fail(lab, through: str | None = None) -> list[str]:
    return [r.id for r in lab.verify(through=through) if r.status is Status.FAIL]


def test_not_found_right_after_each_create_is_retried(lab, clock):
    inject = Inject(lab.cloud)
    for op, code in [
        ("DescribeVpcs", "InvalidVpcID.NotFound"),
        ("ModifyVpcAttribute", "InvalidVpcID.NotFound"),
        ("DescribeSubnets", "InvalidSubnetID.NotFound"),
        ("AttachInternetGateway", "InvalidInternetGatewayID.NotFound"),
        ("CreateNatGateway", "InvalidAllocationID.NotFound"),
        ("CreateRoute", "InvalidRouteTableID.NotFound"),
        ("AuthorizeSecurityGroupIngress", "InvalidGroup.NotFound"),
        ("RunInstances", "InvalidKeyPair.NotFound"),
        ("DescribeInstances", "InvalidInstanceID.NotFound"),
        ("AcceptVpcPeeringConnection", "InvalidVpcPeeringConnectionID.NotFound"),
    ]:
        # Only the calls that name the new resource by id, not searches by filter.
        inject.fail(
            op, code, times=1, when=lambda body: not any(k.startswith("Filter") for k in body)
        )
    lab.up()
    assert len(inject.seen) == 10, inject.seen
    assert no_fail(lab) == []
    assert 0 < clock.now < 60


def test_nat_that_stays_pending_is_waited_for(lab, clock):
    inject = Inject(lab.cloud)

    def pending(parsed: dict) -> bool:
        nats = parsed["NatGateways"] if "NatGateways" in parsed else [parsed["NatGateway"]]
        for nat in nats:
            nat["State"] = "pending"
        return bool(nats)

    inject.rewrite("CreateNatGateway", pending)
    inject.rewrite("DescribeNatGateways", pending, times=3)
    lab.up(through="nat")
    calls = ops(lab)
    created = calls.index("CreateNatGateway")
    private_route = [i for i, op in enumerate(calls) if op == "CreateRoute"][-1]
    assert calls[created:private_route].count("DescribeNatGateways") >= 2
    assert len(clock.slept) >= 2 and no_fail(lab, "nat") == []


def test_failed_nat_is_one_line_with_a_hint(lab, clock):
    inject = Inject(lab.cloud)

    def failed(parsed: dict) -> bool:
        for nat in parsed["NatGateways"]:
            nat.update(State="failed", FailureMessage="Insufficient capacity")
        return bool(parsed["NatGateways"])

    inject.rewrite("CreateNatGateway", lambda p: bool(p["NatGateway"].update(State="pending")) or 1)
    inject.rewrite("DescribeNatGateways", failed, times=1)
    with pytest.raises(VpclabError) as exc:
        lab.up(through="nat")
    assert "failed: Insufficient capacity" in exc.value.problem and exc.value.fix


def test_peering_is_accepted_only_once_pending_acceptance(lab, clock):
    inject = Inject(lab.cloud)
    answered: list[str] = []
    script = iter(["initiating-request", "initiating-request", "pending-acceptance"])

    def early(parsed: dict) -> bool:
        for peering in parsed.get("VpcPeeringConnections", []):
            code = next(script, None)
            if code:
                peering["Status"] = {"Code": code}
            answered.append(peering["Status"]["Code"])
        return True

    inject.rewrite(
        "CreateVpcPeeringConnection",
        lambda p: bool(p["VpcPeeringConnection"].update(Status={"Code": "initiating-request"})),
    )
    inject.rewrite("DescribeVpcPeeringConnections", early)
    accepted_after: list[list[str]] = []
    inject.intercept("AcceptVpcPeeringConnection", lambda _p: accepted_after.append(answered[:]))
    lab.up(through="jenkins")
    assert len(accepted_after) == 1
    assert accepted_after[0][-3:] == [
        "initiating-request",
        "initiating-request",
        "pending-acceptance",
    ]
    assert no_fail(lab, "jenkins") == []


def test_rerun_while_provisioning_never_accepts_again(built_lab):
    built_lab.pacing = Pacing.fake()
    inject = Inject(built_lab.cloud)

    def provisioning(parsed: dict) -> bool:
        for peering in parsed.get("VpcPeeringConnections", []):
            peering["Status"] = {"Code": "provisioning"}
        return True

    inject.rewrite("DescribeVpcPeeringConnections", provisioning, times=2)
    built_lab.cloud.log.clear()
    built_lab.up()
    assert "AcceptVpcPeeringConnection" not in ops(built_lab)
    assert built_lab.cloud.log.mutating == []


def test_blackhole_route_is_replaced(built_lab):
    state = built_lab.context().state()
    private = state.route_tables["private"]["RouteTableId"]
    inject = Inject(built_lab.cloud)

    def blackhole(parsed: dict) -> bool:
        for table in parsed.get("RouteTables", []):
            for route in table.get("Routes", []):
                if table["RouteTableId"] == private and route.get("NatGatewayId"):
                    route.update(State="blackhole", NatGatewayId="nat-0ld")
        return True

    inject.rewrite("DescribeRouteTables", blackhole)
    built_lab.cloud.log.clear()
    built_lab.up(through="nat")
    replaced = [p for _, op, p in built_lab.cloud.log.calls if op == "ReplaceRoute"]
    assert [(p["RouteTableId"], p["NatGatewayId"]) for p in replaced] == [
        (private, state.nat["NatGatewayId"])
    ]
    assert "CreateRoute" not in ops(built_lab)


def test_route_in_the_default_vpc_not_made_by_vpclab_is_never_replaced(lab, clock):
    lab.up(through="nat")
    ec2 = lab.cloud.ec2
    state = lab.context().state()
    other = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    foreign = ec2.create_vpc_peering_connection(VpcId=state.default_vpc["VpcId"], PeerVpcId=other)[
        "VpcPeeringConnection"
    ]["VpcPeeringConnectionId"]
    table = state.default_route_table["RouteTableId"]
    ec2.create_route(
        RouteTableId=table, DestinationCidrBlock=lab.spec.cidr, VpcPeeringConnectionId=foreign
    )
    with pytest.raises(VpclabError) as exc:
        lab.up()
    assert foreign in exc.value.problem and "did not create" in exc.value.problem
    assert "cidr" in exc.value.fix
    assert "ReplaceRoute" not in ops(lab)


def test_rerun_after_a_crash_makes_no_duplicate(spec_path, lab, clock):
    """AWS answers a repeated idempotency token with the first resource (simulated here,
    as moto ignores tokens), and the rerun does not yet see what the crashed run made."""
    lab.up()
    state = lab.context().state()
    first: dict[str, dict] = {}
    for _, op, params in lab.cloud.log.calls:
        if op == "RunInstances":
            role = tags_of(params["TagSpecifications"][0])[ROLE]
            first[params["ClientToken"]] = {"Instances": [state.instances[role]]}
        elif op == "CreateNatGateway":
            first[params["ClientToken"]] = {"NatGateway": state.nat}
    assert len(first) == 5

    rerun = Lab(spec_path, "local", say=lambda _line: None)
    rerun.pacing = lab.pacing
    inject = Inject(rerun.cloud)
    for op in ("RunInstances", "CreateNatGateway"):
        inject.intercept(op, lambda p: first.get(p["body"]["ClientToken"]))
    inject.intercept("DescribeNatGateways", lambda p: {"NatGateways": []} if by_tag(p) else None)
    inject.intercept("DescribeInstances", lambda p: {"Reservations": []} if by_tag(p) else None)
    rerun.up()
    assert ops(rerun).count("RunInstances") == 4 and ops(rerun).count("CreateNatGateway") == 1
    tagged = lab.context().state().tagged
    assert len(tagged.instances) == 4 and len(tagged.nats) == 1


def test_launches_are_hardened(built_lab):
    ec2 = built_lab.cloud.ec2
    launches = [p for _, op, p in built_lab.cloud.log.calls if op == "RunInstances"]
    assert len(launches) == 4
    for params in launches:
        assert params["NetworkInterfaces"][0]["DeleteOnTermination"] is True
        assert params["MetadataOptions"]["HttpTokens"] == "required"
        assert params["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
        assert len(params["ClientToken"]) == 32
    assert len({p["ClientToken"] for p in launches}) == 4
    for instance in built_lab.context().state().instances.values():
        assert instance["MetadataOptions"]["HttpTokens"] == "required"
    volumes = ec2.describe_volumes()["Volumes"]
    assert volumes and all(v["Encrypted"] for v in volumes)


def test_keys_folder_is_0700(readonly_lab):
    assert stat.S_IMODE(readonly_lab.keys_dir.stat().st_mode) == 0o700

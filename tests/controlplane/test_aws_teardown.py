"""Teardown as AWS behaves: lingering dependencies, NATs and instances that take their time,
duplicates from two `up`s. Waits run on a fake clock: no test waits for real time."""

from __future__ import annotations

import pytest

from tests.controlplane.awsfake import Inject, by_tag, instances_of, ops
from tests.controlplane.test_teardown import tagged_leftovers
from vpclab.aws.retry import FakeClock, Pacing
from vpclab.aws.teardown import TeardownIncomplete
from vpclab.lab import Lab


@pytest.fixture
def clock(built_lab) -> FakeClock:
    clock = FakeClock()
    built_lab.pacing = Pacing.fake(clock)
    return clock


def test_dependency_violation_twice_then_success(built_lab, clock):
    said = []
    built_lab.say = said.append
    inject = Inject(built_lab.cloud)
    inject.fail("DeleteSecurityGroup", "DependencyViolation", times=2)
    inject.fail("DeleteSubnet", "DependencyViolation", times=2)
    built_lab.cloud.log.clear()
    built_lab.down()
    assert tagged_leftovers(built_lab) == []
    assert [op for op, _ in inject.seen] == ["DeleteSecurityGroup"] * 2 + ["DeleteSubnet"] * 2
    assert len(clock.slept) == 4 and clock.now < 60
    assert sum("DependencyViolation" in line for line in said) == 4, "no progress shown"


def test_elastic_ip_in_use_is_retried(built_lab, clock):
    inject = Inject(built_lab.cloud)
    inject.fail("ReleaseAddress", "InvalidIPAddress.InUse", times=2)
    built_lab.down()
    assert tagged_leftovers(built_lab) == []
    assert ops(built_lab).count("ReleaseAddress") == 3


def test_lingering_dependency_gives_up_after_about_five_minutes(built_lab, clock):
    inject = Inject(built_lab.cloud)
    inject.fail("DeleteVpc", "DependencyViolation", times=-1)
    with pytest.raises(TeardownIncomplete) as exc:
        built_lab.down()
    vpc_id = built_lab.context().state().vpc["VpcId"]
    assert f"VPC {vpc_id}" in exc.value.problem and "DependencyViolation" in exc.value.problem
    assert "\n" not in exc.value.line()
    assert 300 <= clock.now <= 300 + built_lab.pacing.max_delay
    assert vpc_id in tagged_leftovers(built_lab)


def test_instances_and_nat_are_stopped_before_any_wait(built_lab, clock):
    built_lab.cloud.log.clear()
    built_lab.down()
    calls = ops(built_lab)
    terminate, nat = calls.index("TerminateInstances"), calls.index("DeleteNatGateway")
    assert "DescribeInstances" not in calls[terminate:nat], "waited before deleting the NAT"
    first_wait = calls.index("DescribeInstances", nat)
    assert calls.index("ReleaseAddress") > calls.index("DescribeNatGateways", first_wait)


def test_nat_that_stays_deleting_is_waited_for(built_lab, clock):
    inject = Inject(built_lab.cloud)

    def deleting(parsed: dict) -> bool:
        gone = [n for n in parsed["NatGateways"] if n["State"] == "deleted"]
        for nat in gone:
            nat["State"] = "deleting"
        return bool(gone)

    inject.rewrite("DescribeNatGateways", deleting, times=3)
    built_lab.cloud.log.clear()
    built_lab.down()
    calls = ops(built_lab)
    deleted = calls.index("DeleteNatGateway")
    release = calls.index("ReleaseAddress")
    assert calls[deleted:release].count("DescribeNatGateways") == 4  # 3 deleting, then deleted
    assert clock.slept and tagged_leftovers(built_lab) == []


def test_second_down_waits_for_shutting_down_instances(built_lab, clock):
    ec2 = built_lab.cloud.ec2
    ids = [i["InstanceId"] for i in built_lab.context().state().instances.values()]
    ec2.terminate_instances(InstanceIds=ids)  # a first `down` that stopped after this
    inject = Inject(built_lab.cloud)

    def shutting_down(parsed: dict) -> bool:
        found = [i for i in instances_of(parsed) if i["State"]["Name"] == "terminated"]
        for instance in found:
            instance["State"] = {"Code": 32, "Name": "shutting-down"}
        return bool(found)

    inject.rewrite("DescribeInstances", shutting_down, times=3)  # the read, then two polls
    built_lab.cloud.log.clear()
    built_lab.down()
    calls = ops(built_lab)
    assert "TerminateInstances" not in calls
    assert calls.index("DeleteSubnet") > calls.index("DescribeInstances", 1)
    assert tagged_leftovers(built_lab) == []


def test_instances_that_never_terminate_still_get_the_nat_deleted(built_lab, clock):
    inject = Inject(built_lab.cloud)

    def shutting_down(parsed: dict) -> bool:
        for instance in instances_of(parsed):
            if instance["State"]["Name"] == "terminated":
                instance["State"] = {"Code": 32, "Name": "shutting-down"}
        return True

    inject.rewrite("DescribeInstances", shutting_down)
    with pytest.raises(TeardownIncomplete) as exc:
        built_lab.down()
    assert "DeleteNatGateway" in ops(built_lab), "the NAT kept billing"
    assert "shutting-down" in exc.value.problem and "instance i-" in exc.value.problem
    assert clock.now <= built_lab.pacing.state_budget + built_lab.pacing.max_delay


def test_duplicates_from_two_ups_are_all_torn_down(spec_path, built_lab, clock):
    # A second `up` (another process) that does not yet see the first one's NAT and servers.
    other = Lab(spec_path, "local", say=lambda _line: None)
    other.pacing = built_lab.pacing
    inject = Inject(other.cloud)
    inject.intercept("DescribeNatGateways", lambda p: {"NatGateways": []} if by_tag(p) else None)
    inject.intercept("DescribeInstances", lambda p: {"Reservations": []} if by_tag(p) else None)
    other.up()
    tagged = built_lab.context().state().tagged
    assert len(tagged.nats) == 2 and len(tagged.instances) == 8
    built_lab.cloud.log.clear()
    built_lab.down()
    assert tagged_leftovers(built_lab) == []
    # "Nothing is left" comes from a read after the last change.
    calls = built_lab.cloud.log.calls
    last_change = max(i for i, (_, op, _) in enumerate(calls) if not op.startswith("Describe"))
    after = {op for _, op, _ in calls[last_change + 1 :]}
    assert {"DescribeVpcs", "DescribeInstances", "DescribeNatGateways"} <= after


def test_down_with_something_left_is_exit_1_naming_it(spec_path, built_lab, monkeypatch, capsys):
    import sys

    from vpclab import cli

    cloud = built_lab.cloud
    Inject(cloud).fail("DeleteVpc", "DependencyViolation", times=-1)
    monkeypatch.setattr("vpclab.lab.connect", lambda *_a, **_k: cloud)
    monkeypatch.setattr(Lab, "pacing", Pacing.fake())
    monkeypatch.setattr(sys, "argv", ["vpclab", "down", "--spec", str(spec_path)])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    _, err = capsys.readouterr()
    assert exc.value.code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("error:") and "VPC vpc-" in last and "vpclab down" in last
    assert "nothing tagged for the lab is left" not in err

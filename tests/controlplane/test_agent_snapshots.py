"""The agent reads the control plane's whole state (eight Describe calls) again only when the
change count moved, or when its last read is older than REFRESH: an idle lab's polls cost
moto one small read each. Against the project's moto server, whose count is real."""

from __future__ import annotations

import urllib.request

from vpclab.aws.session import LOCAL_CREDENTIALS, new_session
from vpclab.localcloud import motoserver
from vpclab.localcloud.daemon import Snapshots


def _ec2(endpoint: str):
    return new_session("us-east-1", **LOCAL_CREDENTIALS).client("ec2", endpoint_url=endpoint)


def test_a_snapshot_is_read_again_only_after_a_counted_change(moto_endpoint):
    ec2 = _ec2(moto_endpoint)
    snapshots = Snapshots(ec2, refresh=3600)
    count = motoserver.mutations(moto_endpoint)
    assert count is not None  # the project's server counts its changes
    first = snapshots.get(count)
    assert snapshots.get(motoserver.mutations(moto_endpoint)) is first  # nothing changed
    assert snapshots.fetches == 1

    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    moved = motoserver.mutations(moto_endpoint)
    assert moved is not None and moved > count
    second = snapshots.get(moved)
    assert snapshots.fetches == 2
    assert vpc in {v["VpcId"] for v in second.vpcs}
    assert vpc not in {v["VpcId"] for v in first.vpcs}


def test_a_reset_moves_the_count(moto_endpoint):
    """moto's own reset changes the state outside EC2's API: it is counted too, so the agent
    sees the lab gone at its next loop, not REFRESH seconds later."""
    ec2 = _ec2(moto_endpoint)
    ec2.create_vpc(CidrBlock="10.78.0.0/16")
    snapshots = Snapshots(ec2, refresh=3600)
    before = snapshots.get(motoserver.mutations(moto_endpoint))
    assert any(v["CidrBlock"] == "10.78.0.0/16" for v in before.vpcs)
    urllib.request.urlopen(
        urllib.request.Request(f"{moto_endpoint}/moto-api/reset", data=b"", method="POST"),
        timeout=30,
    ).close()
    after = snapshots.get(motoserver.mutations(moto_endpoint))
    assert snapshots.fetches == 2
    assert not any(v["CidrBlock"] == "10.78.0.0/16" for v in after.vpcs)


def test_without_a_count_or_after_refresh_every_call_reads(moto_endpoint):
    ec2 = _ec2(moto_endpoint)
    plain = Snapshots(ec2, refresh=3600)
    plain.get(None)
    plain.get(None)
    assert plain.fetches == 2  # plain moto (or no answer): nothing proves the state unchanged
    aged = Snapshots(ec2, refresh=0.0)
    count = motoserver.mutations(moto_endpoint)
    aged.get(count)
    aged.get(count)
    assert aged.fetches == 2  # a change moto does not count (a reset) is seen within REFRESH

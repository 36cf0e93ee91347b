"""The shared local moto server: started once, reused, and its state survives a restart."""

from __future__ import annotations

import pytest

from vpclab.aws.session import connect
from vpclab.lab import local_endpoint
from vpclab.localcloud import motoserver


@pytest.fixture
def local_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    path = tmp_path / "local"
    yield path
    motoserver.stop(path)


def test_started_once_and_reused(local_dir):
    first = motoserver.start(local_dir)
    second = motoserver.start(local_dir)
    assert first == second
    assert motoserver.status(local_dir) == first


def test_state_survives_stop_and_start(local_dir):
    cloud = connect("local", "us-east-1", local_endpoint(local_dir))
    vpc_id = cloud.ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    assert motoserver.stop(local_dir)
    assert motoserver.status(local_dir) is None
    cloud = connect("local", "us-east-1", local_endpoint(local_dir))
    vpcs = cloud.ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    assert vpcs[0]["CidrBlock"] == "10.42.0.0/16"


def test_forget_gives_an_empty_cloud(local_dir):
    cloud = connect("local", "us-east-1", local_endpoint(local_dir))
    cloud.ec2.create_vpc(CidrBlock="10.43.0.0/16")
    motoserver.stop(local_dir)
    motoserver.forget(local_dir)
    cloud = connect("local", "us-east-1", local_endpoint(local_dir))
    cidrs = [v["CidrBlock"] for v in cloud.ec2.describe_vpcs()["Vpcs"]]
    assert "10.43.0.0/16" not in cidrs


def test_endpoint_env_wins_and_starts_nothing(local_dir, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    cloud = connect("local", "us-east-1", local_endpoint(local_dir))
    assert cloud.endpoint == "http://127.0.0.1:1"
    assert motoserver.status(local_dir) is None


def test_replay_keeps_ids_even_with_reads_between(local_dir):
    """Reads (the agent polls) are not recorded, yet every id comes back after a restart."""
    ec2 = connect("local", "us-east-1", local_endpoint(local_dir)).ec2
    ec2.describe_instances()
    vpc = ec2.create_vpc(CidrBlock="10.44.0.0/16")["Vpc"]["VpcId"]
    for _ in range(5):
        ec2.describe_vpcs()
        ec2.describe_subnets()
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.44.1.0/24")["Subnet"]["SubnetId"]
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
    recording = (local_dir / "moto-recording.jsonl").read_text().splitlines()
    assert len(recording) == 2, "only the two mutations are recorded"
    motoserver.stop(local_dir)

    ec2 = connect("local", "us-east-1", local_endpoint(local_dir)).ec2
    assert ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"] == vpc
    again = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
    assert again["Vpcs"][0]["VpcId"] == default_vpc["Vpcs"][0]["VpcId"]

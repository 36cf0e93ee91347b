"""The shared local moto server: started once, reused, and its state survives a restart."""

from __future__ import annotations

import json
import socket

import botocore.session
import pytest

from vpclab.aws.session import LOCAL_CREDENTIALS, endpoint_cloud, new_session
from vpclab.localcloud import motoserver
from vpclab.localcloud.lifecycle import local_endpoint


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


def test_the_recording_is_private_from_the_first_change(local_dir):
    """It holds every change, secrets' values included: 0600, in a 0700 folder."""
    cloud = endpoint_cloud("local", "us-east-1", local_endpoint(local_dir))
    cloud.client("ssm").put_parameter(Name="/t/secret", Value="s3cret", Type="SecureString")
    recording = local_dir / "moto-recording.jsonl"
    assert "PutParameter" in recording.read_text()
    assert (local_dir.stat().st_mode & 0o777, recording.stat().st_mode & 0o777) == (0o700, 0o600)


def test_state_survives_stop_and_start(local_dir):
    cloud = endpoint_cloud("local", "us-east-1", local_endpoint(local_dir))
    vpc_id = cloud.ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    assert motoserver.stop(local_dir)
    assert motoserver.status(local_dir) is None
    cloud = endpoint_cloud("local", "us-east-1", local_endpoint(local_dir))
    vpcs = cloud.ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    assert vpcs[0]["CidrBlock"] == "10.42.0.0/16"


def test_forget_gives_an_empty_cloud(local_dir):
    cloud = endpoint_cloud("local", "us-east-1", local_endpoint(local_dir))
    cloud.ec2.create_vpc(CidrBlock="10.43.0.0/16")
    motoserver.stop(local_dir)
    motoserver.forget(local_dir)
    cloud = endpoint_cloud("local", "us-east-1", local_endpoint(local_dir))
    cidrs = [v["CidrBlock"] for v in cloud.ec2.describe_vpcs()["Vpcs"]]
    assert "10.43.0.0/16" not in cidrs


def test_endpoint_env_wins_and_starts_nothing(local_dir, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    cloud = endpoint_cloud("local", "us-east-1", local_endpoint(local_dir))
    assert cloud.endpoint == "http://127.0.0.1:1"
    assert motoserver.status(local_dir) is None


def test_replay_keeps_ids_even_with_reads_between(local_dir):
    """Reads (the agent polls) are not recorded, yet every id comes back after a restart."""
    ec2 = endpoint_cloud("local", "us-east-1", local_endpoint(local_dir)).ec2
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

    ec2 = endpoint_cloud("local", "us-east-1", local_endpoint(local_dir)).ec2
    assert ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"] == vpc
    again = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
    assert again["Vpcs"][0]["VpcId"] == default_vpc["Vpcs"][0]["VpcId"]


def test_a_recording_made_on_a_port_now_taken_is_set_aside_and_a_private_one_begins(local_dir):
    cloud = endpoint_cloud("local", "us-east-1", local_endpoint(local_dir))
    cloud.ec2.create_vpc(CidrBlock="10.46.0.0/16")
    old_port = motoserver.status(local_dir).port
    motoserver.stop(local_dir)
    with socket.socket() as squatter:  # another process took the recorded port meanwhile
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        server = motoserver.start(local_dir)
        assert server.port != old_port
    recording = local_dir / "moto-recording.jsonl"
    assert "CreateVpc" in recording.with_suffix(".stale").read_text()
    assert recording.stat().st_mode & 0o777 == 0o600 and recording.stat().st_size == 0
    cidrs = [v["CidrBlock"] for v in _ec2(server.endpoint).describe_vpcs()["Vpcs"]]
    assert "10.46.0.0/16" not in cidrs


def _default_network(ec2) -> tuple[str, int]:
    default = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
    return default["Vpcs"][0]["VpcId"], len(ec2.describe_images()["Images"])


def test_a_recording_made_with_every_ami_replays_with_every_ami(local_dir, monkeypatch):
    """A server from before the regional AMI catalogues were left out wrote no "amis" in its
    record: its recording replays with them all, so the default VPC (whose ids follow the
    images moto made before it) and what was made in it come back."""
    monkeypatch.setattr(motoserver, "NEW_AMIS", "all")  # the older server
    ec2 = endpoint_cloud("local", "us-east-1", local_endpoint(local_dir)).ec2
    default_vpc, everything = _default_network(ec2)
    subnet = ec2.create_subnet(VpcId=default_vpc, CidrBlock="172.31.200.0/24")["Subnet"]
    motoserver.stop(local_dir)
    record = local_dir / "moto.json"
    older = json.loads(record.read_text())
    del older["amis"]
    record.write_text(json.dumps(older))
    monkeypatch.undo()
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

    ec2 = endpoint_cloud("local", "us-east-1", local_endpoint(local_dir)).ec2
    assert _default_network(ec2) == (default_vpc, everything)
    found = ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])["Subnets"]
    assert found[0]["VpcId"] == default_vpc
    assert json.loads(record.read_text())["amis"] == "all", "kept for the next restart"
    motoserver.stop(local_dir)
    motoserver.forget(local_dir)
    ec2 = endpoint_cloud("local", "us-east-1", local_endpoint(local_dir)).ec2
    classic_vpc, classic = _default_network(ec2)
    assert classic < everything and classic_vpc != default_vpc, "a new cloud: classic AMIs"


# --- the local target's patches of moto (moto_main) -----------------------------------------


def _ec2(endpoint):
    session = new_session("us-east-1", **LOCAL_CREDENTIALS)
    return session.client("ec2", endpoint_url=endpoint)


def _network(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.45.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.45.1.0/24")["Subnet"]["SubnetId"]
    ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
    return vpc, subnet


def _run(ec2, subnet, count=1):
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    made = ec2.run_instances(ImageId=ami, MinCount=count, MaxCount=count, SubnetId=subnet)
    return [i["InstanceId"] for i in made["Instances"]]


def _public_ips(ec2, ids):
    found = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    return [i.get("PublicIpAddress") for r in found for i in r["Instances"]]


def test_public_addresses_come_from_the_documentation_ranges(local_dir):
    ec2 = _ec2(motoserver.start(local_dir).endpoint)
    _vpc, subnet = _network(ec2)
    ids = _run(ec2, subnet, 3)
    ips = _public_ips(ec2, ids)
    assert len(set(ips)) == 3
    for ip in ips:
        last = int(ip.rsplit(".", 1)[1])
        assert ip.startswith("198.51.100.") and 10 <= last < 250, ip
    eip = ec2.allocate_address(Domain="vpc")["PublicIp"]
    assert eip.startswith("203.0.113.") and eip not in ("203.0.113.0", "203.0.113.255")

    motoserver.stop(local_dir)  # a replay gives every address back
    ec2 = _ec2(motoserver.start(local_dir).endpoint)
    assert _public_ips(ec2, ids) == ips
    assert [a["PublicIp"] for a in ec2.describe_addresses()["Addresses"]] == [eip]


def test_revoke_by_permission_ignores_descriptions(local_dir):
    """The call a student writes works, though the rule was authorized with a description."""
    ec2 = _ec2(motoserver.start(local_dir).endpoint)
    vpc, _subnet = _network(ec2)
    web = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    app = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=app,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "UserIdGroupPairs": [{"GroupId": web, "Description": "ssh from web"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 5000,
                "ToPort": 5000,
                "IpRanges": [{"CidrIp": "10.45.0.0/16", "Description": "app port"}],
            },
        ],
    )
    ec2.revoke_security_group_ingress(
        GroupId=app,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "UserIdGroupPairs": [{"GroupId": web}],
            }
        ],
    )
    ec2.revoke_security_group_ingress(
        GroupId=app,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 5000,
                "ToPort": 5000,
                "IpRanges": [{"CidrIp": "10.45.0.0/16"}],
            }
        ],
    )
    left = ec2.describe_security_groups(GroupIds=[app])["SecurityGroups"][0]["IpPermissions"]
    assert left == []
    with pytest.raises(ec2.exceptions.ClientError, match="InvalidPermission.NotFound"):
        ec2.revoke_security_group_ingress(
            GroupId=app,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 23,
                    "ToPort": 23,
                    "UserIdGroupPairs": [{"GroupId": web}],
                }
            ],
        )


def test_the_change_counter_counts_only_changes(local_dir):
    server = motoserver.start(local_dir)
    ec2 = _ec2(motoserver.start(local_dir).endpoint)
    before = motoserver.mutations(server.endpoint)
    ec2.describe_vpcs()
    assert motoserver.mutations(server.endpoint) == before
    ec2.create_vpc(CidrBlock="10.46.0.0/16")
    ec2.describe_subnets()
    assert motoserver.mutations(server.endpoint) == before + 1


def test_an_ephemeral_server_is_patched_seeded_and_gone_after(tmp_path):
    ids = []
    for _ in range(2):
        with motoserver.ephemeral(seed=7, log=tmp_path / "moto.log") as server:
            ec2 = _ec2(server.endpoint)
            ids.append(ec2.create_vpc(CidrBlock="10.47.0.0/16")["Vpc"]["VpcId"])
            assert motoserver.mutations(server.endpoint) == 1
            pid = server.pid
        assert server.proc.poll() is not None, f"server {pid} still runs"
    assert ids[0] == ids[1]
    with motoserver.ephemeral(patched=False) as plain:
        assert motoserver.mutations(plain.endpoint) is None


def test_the_regions_moto_serves_are_botocores(tmp_path):
    # moto_main answers moto's region questions from one botocore session: the same answers.
    session = botocore.session.Session()
    expected = {
        region
        for partition in ("aws", "aws-us-gov", "aws-cn")
        for region in session.get_available_regions("ec2", partition_name=partition)
    }
    with motoserver.ephemeral(log=tmp_path / "moto.log") as server:
        served = _ec2(server.endpoint).describe_regions(AllRegions=True)["Regions"]
    assert expected and {r["RegionName"] for r in served} == expected


def test_only_motos_classic_amis_are_loaded(tmp_path):
    """Each EC2 backend would also make moto's regional catalogues (1,257 more images in
    us-east-1, each with a volume and a snapshot); the local target launches none of them."""
    from moto.ec2.models.amis import AMIS

    with motoserver.ephemeral(log=tmp_path / "moto.log") as server:
        images = _ec2(server.endpoint).describe_images()["Images"]
    assert len(images) == len(AMIS) > 0
    assert {i["ImageId"] for i in images} == {a["ami_id"] for a in AMIS}


def test_kms_keys_that_never_sign_share_a_private_key_and_signing_keys_get_their_own(tmp_path):
    with motoserver.ephemeral(log=tmp_path / "moto.log") as server:
        kms = new_session("us-east-1", **LOCAL_CREDENTIALS).client(
            "kms", endpoint_url=server.endpoint
        )

        def public_key(**spec: str) -> bytes:
            key = kms.create_key(**spec)["KeyMetadata"]["KeyId"]
            return kms.get_public_key(KeyId=key)["PublicKey"]

        symmetric = [public_key() for _ in range(2)]
        signing = [public_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY") for _ in range(2)]
        assert symmetric[0] == symmetric[1]
        assert signing[0] != signing[1] and symmetric[0] not in signing
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        sealed = kms.encrypt(KeyId=key, Plaintext=b"still a working key")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"still a working key"

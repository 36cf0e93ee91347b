"""The local control plane answers only its owner, and a build only what the Jenkins role
may ask: as `nobody` every call (moto's own API too) is refused; through the build's gate,
reads pass and RunInstances, CreateVpc and /moto-api/reset are refused."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.exceptions import ClientError

from vpclab.localcloud import motoserver
from vpclab.pipeline import gate

NOBODY = 65534
FAKE = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
# Run as `nobody`: one EC2 read, then moto's reset.
STRANGER = """
import sys, urllib.request, urllib.error
import boto3, botocore
endpoint = sys.argv[1]
ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
try:
    ec2.describe_vpcs()
    print("read: answered")
except botocore.exceptions.ClientError as exc:
    print("read:", exc.response["Error"]["Code"])
try:
    urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset", method="POST"))
    print("reset: answered")
except urllib.error.HTTPError as exc:
    print("reset:", exc.code)
"""


@pytest.fixture
def server():
    if os.geteuid() != 0:
        pytest.skip("changing to another uid needs root")
    with motoserver.ephemeral() as running:
        yield running


def _ec2(endpoint: str):
    return boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1", **FAKE)


def _vpcs(endpoint: str) -> int:
    return len(_ec2(endpoint).describe_vpcs()["Vpcs"])


def test_another_local_user_is_refused_everything(server):
    _ec2(server.endpoint).create_vpc(CidrBlock="10.9.0.0/16")
    before = _vpcs(server.endpoint)

    def as_nobody() -> None:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)

    done = subprocess.run(
        [sys.executable, "-c", STRANGER, server.endpoint],
        preexec_fn=as_nobody,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": "/tmp"},
    )
    assert done.stdout.splitlines() == ["read: AuthFailure", "reset: 403"], done.stderr
    assert _vpcs(server.endpoint) == before  # the reset did not happen


def test_a_build_reads_what_the_jenkins_role_may_and_nothing_more(server):
    ec2 = _ec2(server.endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    entry = gate.open_gate(server.endpoint)
    try:
        build = _ec2(entry.endpoint)
        assert vpc in [v["VpcId"] for v in build.describe_vpcs()["Vpcs"]]
        sts = boto3.client("sts", endpoint_url=entry.endpoint, region_name="us-east-1", **FAKE)
        assert sts.get_caller_identity()["Account"]
        image = ec2.describe_images()["Images"][0]["ImageId"]
        for call in (
            lambda: build.run_instances(ImageId=image, MinCount=1, MaxCount=1),
            lambda: build.create_vpc(CidrBlock="10.8.0.0/16"),
        ):
            with pytest.raises(ClientError) as refused:
                call()
            assert refused.value.response["Error"]["Code"] == "UnauthorizedOperation"
        reset = urllib.request.Request(entry.endpoint + "/moto-api/reset", method="POST")
        with pytest.raises(urllib.error.HTTPError) as status:
            urllib.request.urlopen(reset, timeout=10)
        assert status.value.code == 403
        # The same gate without TCP (how a build's forward reaches it): the same answers.
        for path, code in (("/moto-api/reset", 403), ("/?Action=DescribeVpcs", 200)):
            conn = http.client.HTTPConnection("gate")
            conn.sock = entry.attach()
            auth = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request"
            conn.request("POST", path, headers={"Authorization": auth})
            assert conn.getresponse().status == code
            conn.close()
    finally:
        entry.stop()
    assert _vpcs(server.endpoint) == len(ec2.describe_vpcs()["Vpcs"]) and vpc in [
        v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]
    ]
    assert ec2.describe_instances()["Reservations"] == []

"""Preflight on target aws checks what moto never refuses: the region's vCPU quota for
On-Demand Standard instances, that the plan's instance types exist and run the image's
architecture, and that the image is the Ubuntu release the pins need. Each failure is one line
with the fix, before anything is created. The quota is answered by a botocore hook (moto has no
EC2 quotas); nothing leaves this machine."""

from __future__ import annotations

import json

import pytest
from botocore.awsrequest import AWSResponse

from tests.controlplane.awsfake import Inject
from tests.controlplane.test_aws_preflight import OPERATOR_IP, edit_spec
from vpclab.aws import limits
from vpclab.aws.preflight import PreflightError
from vpclab.aws.retry import Pacing
from vpclab.aws.session import LOCAL_CREDENTIALS, Cloud, new_session
from vpclab.lab import Lab

NOBLE = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261101"
JAMMY = "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20260101"


@pytest.fixture
def aws(spec_path, moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("VPCLAB_REPO_URL", "https://example.org/microblog.git")
    session = new_session("us-east-1", **LOCAL_CREDENTIALS)
    cloud = Cloud("aws", "us-east-1", moto_endpoint, session)
    monkeypatch.setattr("vpclab.lab.connect", lambda *_a, **_k: cloud)
    monkeypatch.setattr(Lab, "pacing", Pacing.fake())
    said: list[str] = []

    def lab(image_name: str = NOBLE, architecture: str = "x86_64") -> Lab:
        image = cloud.ec2.register_image(Name=image_name, RootDeviceName="/dev/sda1")

        def arch(parsed: dict) -> bool:  # AWS always says; moto drops it
            for found in parsed.get("Images", []):
                if found["ImageId"] == image["ImageId"]:
                    found["Architecture"] = architecture
            return True

        Inject(cloud).rewrite("DescribeImages", arch)
        edit_spec(spec_path, admin_cidr=f"{OPERATOR_IP}/32", ami_id=image["ImageId"])
        return Lab(spec_path, "aws", say=said.append)

    return lab, cloud, said


def quota(cloud: Cloud, value: float) -> None:
    """Service Quotas answers this region's On-Demand Standard quota with `value` vCPUs."""

    def answer(params: dict, **_: object):
        body = json.loads(params["body"])  # a JSON protocol service
        assert body == {"ServiceCode": "ec2", "QuotaCode": limits.VCPU_QUOTA_CODE}
        http = AWSResponse("https://servicequotas.invalid/", 200, {}, None)
        return http, {"Quota": {"QuotaCode": limits.VCPU_QUOTA_CODE, "Value": value}}

    client = cloud.client("service-quotas")
    client.meta.events.register("before-call.service-quotas.GetServiceQuota", answer)


def test_a_quota_too_small_for_the_plan_stops_up_before_anything_is_made(aws):
    make, cloud, _said = aws
    lab = make()
    quota(cloud, 5)  # a new account's usual quota; the lab's four servers need 8
    cloud.log.clear()
    with pytest.raises(PreflightError, match="needs 8 more vCPUs.*quota .* is 5 vCPUs") as caught:
        lab.up(yes=True)
    assert limits.VCPU_QUOTA_CODE in caught.value.fix
    assert cloud.log.mutating == []


def test_a_quota_that_fits_passes_and_counts_what_already_runs(aws):
    make, cloud, said = aws
    lab = make()
    quota(cloud, 8)
    lab.up("instances", yes=True)
    assert not [line for line in said if "quota not checked" in line]
    assert any("unlimited" in line and "per vCPU-hour" in line for line in said)
    # Nothing more to launch: a smaller quota no longer matters to this lab.
    quota(cloud, 1)
    lab.up("instances", yes=True)


def test_an_unreadable_quota_is_said_never_hidden(aws):
    make, _cloud, said = aws
    make().up("vpc", yes=True)  # no servers: nothing to count
    make().up("jenkins", yes=True)  # moto has no EC2 quotas
    assert any(line.startswith("note: vCPU quota not checked") for line in said)


def test_an_instance_type_that_does_not_exist_is_named(aws, spec_path):
    make, cloud, _said = aws
    lab = make()
    text = spec_path.read_text().replace('instance_type = "t3.medium"', 'instance_type = "t3.huge"')
    spec_path.write_text(text)
    cloud.log.clear()
    with pytest.raises(PreflightError, match="instance type t3.huge does not exist"):
        Lab(spec_path, "aws").up(yes=True)
    assert cloud.log.mutating == [] and lab


def test_an_image_of_another_architecture_is_refused(aws):
    make, cloud, _said = aws
    lab = make(architecture="arm64")
    cloud.log.clear()
    with pytest.raises(PreflightError, match="runs x86_64, not the image's arm64"):
        lab.up(yes=True)
    assert cloud.log.mutating == []


def test_an_ubuntu_22_04_image_is_refused_for_its_python(aws):
    make, cloud, _said = aws
    lab = make(image_name=JAMMY)
    cloud.log.clear()
    with pytest.raises(PreflightError, match="Ubuntu 22.04, whose Python is 3.10") as caught:
        lab.up(yes=True)
    assert limits.UBUNTU_AMI_PARAMETER in caught.value.fix
    assert cloud.log.mutating == []

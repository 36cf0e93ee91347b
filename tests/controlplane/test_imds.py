"""A local host's instance metadata (IMDSv2) and its door to the control plane, against the
project's moto server: the keys IMDS hands out are moto STS keys of the instance profile's
role, and through the door moto holds them to the role's policy, while the operator's own
calls stay unchecked. (tests/deploy/test_hardening.py runs the same from the Jenkins host.)"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.credentials import InstanceMetadataFetcher
from botocore.exceptions import ClientError

from vpclab.aws import jenkins_setup
from vpclab.aws.session import LOCAL_CREDENTIALS, new_session
from vpclab.localcloud import imds
from vpclab.localcloud.passthrough import Passthrough

REGION = "us-east-1"
ROOT = Path(__file__).resolve().parents[2]


def _operator(endpoint: str, service: str):
    return new_session(REGION, **LOCAL_CREDENTIALS).client(service, endpoint_url=endpoint)


@pytest.fixture
def jenkins_instance(moto_endpoint: str) -> str:
    """An instance with the `jenkins` step's profile (role and read-only policy)."""
    ec2 = _operator(moto_endpoint, "ec2")
    iam = _operator(moto_endpoint, "iam")
    profile = jenkins_setup.ensure_profile(iam, "imds", REGION, "123456789012", lambda _m: None)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, UserData="#!/bin/sh\necho hello\n"
    )["Instances"][0]["InstanceId"]
    ec2.associate_iam_instance_profile(IamInstanceProfile={"Name": profile}, InstanceId=instance)
    return instance


@pytest.fixture
def metadata(moto_endpoint: str, jenkins_instance: str):
    session = new_session(REGION, **LOCAL_CREDENTIALS)
    facts = imds.InstanceFacts(session, moto_endpoint, REGION)
    # The lab's router tells instances apart by source address: here the loopback one.
    hosts = {"127.0.0.1": (jenkins_instance, "10.0.1.10")}
    service = imds.MetadataService(imds._listener(None, 0, "127.0.0.1"), hosts.get, facts)
    yield service
    service.stop()


def _call(url: str, method: str = "GET", headers: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_imdsv2_needs_a_token_and_serves_the_instance(metadata, jenkins_instance) -> None:
    base = metadata.url
    assert _call(f"{base}/latest/meta-data/instance-id")[0] == 401
    assert _call(f"{base}/latest/api/token", "PUT")[0] == 400  # no TTL
    status, token = _call(
        f"{base}/latest/api/token", "PUT", {imds.TOKEN_TTL_HEADER: "60", "X-Forwarded-For": "x"}
    )
    assert status == 403
    status, token = _call(f"{base}/latest/api/token", "PUT", {imds.TOKEN_TTL_HEADER: "60"})
    assert status == 200 and token
    assert _call(f"{base}/latest/meta-data/instance-id", headers={imds.TOKEN_HEADER: "x"})[0] == 401
    auth = {imds.TOKEN_HEADER: token}
    assert _call(f"{base}/latest/meta-data/instance-id", headers=auth) == (200, jenkins_instance)
    assert _call(f"{base}/latest/meta-data/placement/region", headers=auth) == (200, REGION)
    assert _call(f"{base}/latest/user-data", headers=auth) == (200, "#!/bin/sh\necho hello\n")
    role = jenkins_setup.names("imds", REGION)
    listed = _call(f"{base}/latest/meta-data/iam/security-credentials/", headers=auth)
    assert listed == (200, role)
    status, body = _call(f"{base}/latest/meta-data/iam/security-credentials/{role}", headers=auth)
    keys = json.loads(body)
    assert status == 200 and keys["Code"] == "Success"
    assert keys["AccessKeyId"].startswith("ASIA") and keys["Token"]


def test_the_role_keys_do_what_the_policy_allows_through_the_door(
    moto_endpoint: str, metadata
) -> None:
    # botocore's own IMDS client (the default credential chain's) fetches the keys.
    # env={}: as on an instance (CI sets AWS_EC2_METADATA_DISABLED for the operator's side).
    fetched = InstanceMetadataFetcher(
        timeout=5, num_attempts=1, base_url=metadata.url, env={}
    ).retrieve_iam_role_credentials()
    assert fetched["access_key"].startswith("ASIA")
    door = Passthrough(
        moto_endpoint, imds.door_screen(), stamp=lambda _client: {imds.HOST_HEADER: "i-1"}
    )
    door.start()
    try:
        role = new_session(
            REGION,
            aws_access_key_id=fetched["access_key"],
            aws_secret_access_key=fetched["secret_key"],
            aws_session_token=fetched["token"],
        ).client("ec2", endpoint_url=door.endpoint, config=Config(retries={"max_attempts": 1}))
        assert role.describe_instances()["Reservations"]
        image = role.describe_images()["Images"][0]["ImageId"]
        with pytest.raises(ClientError) as denied:
            role.run_instances(ImageId=image, MinCount=1, MaxCount=1)
        assert denied.value.response["Error"]["Code"] in ("AccessDenied", "UnauthorizedOperation")
        # The operator's keys mean nothing through a door: IAM does not know them.
        stranger = new_session(REGION, **LOCAL_CREDENTIALS).client(
            "ec2", endpoint_url=door.endpoint
        )
        with pytest.raises(ClientError):
            stranger.describe_instances()
        # Nor does a door pass moto's own API (a reset would wipe every lab).
        assert _call(f"{door.endpoint}/moto-api/reset", "POST")[0] == 403
    finally:
        door.stop()
    # The operator, straight to the server, is not checked.
    assert _operator(moto_endpoint, "ec2").run_instances(ImageId=image, MinCount=1, MaxCount=1)


def test_a_program_on_the_instance_finds_its_lab_by_its_own_tags(
    moto_endpoint: str, metadata, jenkins_instance, tmp_path, monkeypatch
) -> None:
    """`vpclab ... --from-instance` (Deploy and Verify): the instance id and region from IMDS,
    the lab and target from the instance's tags, read with the profile's keys through the
    door; nothing given but the AWS config file a local host has."""
    from vpclab.aws import instance, tags
    from vpclab.lab import Lab

    operator = _operator(moto_endpoint, "ec2")
    operator.create_tags(
        Resources=[jenkins_instance],
        Tags=[{"Key": tags.LAB, "Value": "imds"}, {"Key": tags.TARGET, "Value": "local"}],
    )
    door = Passthrough(
        moto_endpoint, imds.door_screen(), stamp=lambda _client: {imds.HOST_HEADER: "i-1"}
    ).start()
    try:
        config = tmp_path / "config"
        # As a host's, plus where botocore's own IMDS client must look (not 169.254.169.254).
        config.write_text(
            imds.aws_config(REGION).replace(imds.endpoint_url(), door.endpoint)
            + f"ec2_metadata_service_endpoint = {metadata.url}\n"
        )
        for name in (
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
            "AWS_DEFAULT_REGION",
            "AWS_REGION",
            "AWS_EC2_METADATA_DISABLED",  # CI sets it for the operator's side
        ):
            monkeypatch.delenv(name, raising=False)  # fmt: skip
        monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setattr(instance, "IMDS", metadata.url)
        found = instance.this_lab()
        assert (found.instance_id, found.region, found.lab, found.target) == (
            jenkins_instance, REGION, "imds", "local"
        )  # fmt: skip
        assert found.endpoint == door.endpoint
        spec = tmp_path / "lab.toml"
        spec.write_text((ROOT / "lab.toml").read_text())
        lab = Lab.from_instance(spec, say=lambda _m: None)
        assert (lab.spec.name, lab.target) == ("imds", "local")
        ec2 = lab.cloud.ec2
        assert ec2.describe_instances()["Reservations"]
        image = ec2.describe_images()["Images"][0]["ImageId"]
        with pytest.raises(ClientError):
            ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)
    finally:
        door.stop()


def test_the_keys_are_taken_again_before_they_expire(
    moto_endpoint: str, jenkins_instance: str, monkeypatch
) -> None:
    session = new_session(REGION, **LOCAL_CREDENTIALS)
    facts = imds.InstanceFacts(session, moto_endpoint, REGION)
    first = facts.credentials(jenkins_instance)
    assert first is not None and facts.credentials(jenkins_instance) == first  # still fresh
    left = (first.expiration - first.updated).total_seconds()
    assert imds.REFRESH_BEFORE < left <= imds.CREDENTIAL_SECONDS + 5
    # Within REFRESH_BEFORE of the expiry: new keys, before the old ones run out.
    monkeypatch.setattr(imds, "REFRESH_BEFORE", left + 60)
    second = facts.credentials(jenkins_instance)
    assert second is not None and second.access_key_id != first.access_key_id
    assert second.expiration > first.updated

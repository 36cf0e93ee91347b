"""The lab of the instance this runs on, found the way a program on EC2 finds anything: its
instance id and region from the instance metadata service (IMDSv2), then its own tags
(`vpclab:lab`, `vpclab:target`) read with the default credential chain (the instance
profile's keys). The pipeline's Deploy and Verify use this on the Jenkins host, on both
targets: nothing has to hand them the lab's name, target or addresses.

Locally each host answers at the same address (`vpclab.localcloud.imds`), and its AWS config
file names the control plane (`endpoint_url`): the same code runs unchanged.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

import boto3
import botocore.session
from botocore.exceptions import BotoCoreError, ClientError

from vpclab.aws import tags
from vpclab.aws.session import Cloud, new_session
from vpclab.errors import VpclabError

IMDS = "http://169.254.169.254"
TOKEN_TTL = "60"


@dataclass(frozen=True)
class InstanceLab:
    instance_id: str
    region: str
    lab: str
    target: str
    endpoint: str | None  # the endpoint the AWS config names (the local lab's), else None


def metadata(paths: list[str], timeout: float = 5.0) -> list[str]:
    """IMDSv2: one session token, then each path under /latest/."""
    try:
        put = urllib.request.Request(
            f"{IMDS}/latest/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": TOKEN_TTL},
        )
        with urllib.request.urlopen(put, timeout=timeout) as reply:
            token = reply.read().decode()
        answers = []
        for path in paths:
            get = urllib.request.Request(
                f"{IMDS}/latest/{path}", headers={"X-aws-ec2-metadata-token": token}
            )
            with urllib.request.urlopen(get, timeout=timeout) as reply:
                answers.append(reply.read().decode())
        return answers
    except (OSError, urllib.error.URLError) as exc:
        raise VpclabError(
            f"no instance metadata at {IMDS} ({exc})",
            "run this on a lab instance (the Jenkins server), or pass --spec and --target",
        ) from None


def this_lab(timeout: float = 5.0) -> InstanceLab:
    """The lab and target of this instance, from its own tags."""
    instance_id, region = metadata(["meta-data/instance-id", "meta-data/placement/region"], timeout)
    core = botocore.session.Session()
    session = boto3.Session(region_name=region, botocore_session=core)
    try:
        found = session.client("ec2").describe_instances(InstanceIds=[instance_id])
    except (BotoCoreError, ClientError) as exc:
        raise VpclabError(
            f"cannot read instance {instance_id} with the instance profile's keys: {exc}",
            "the instance needs the lab's instance profile (the jenkins step associates it)",
        ) from None
    mine = tags.tags_of(found["Reservations"][0]["Instances"][0])
    if tags.LAB not in mine or tags.TARGET not in mine:
        raise VpclabError(
            f"instance {instance_id} has no {tags.LAB} and {tags.TARGET} tags",
            "run 'vpclab up --through jenkins' to tag the Jenkins server",
        )
    endpoint = core.get_scoped_config().get("endpoint_url")
    return InstanceLab(instance_id, region, mine[tags.LAB], mine[tags.TARGET], endpoint or None)


def cloud(found: InstanceLab) -> Cloud:
    """The control plane with the default credential chain (the instance profile)."""
    return Cloud(found.target, found.region, found.endpoint, new_session(found.region))

"""The Jenkins server on the aws target: its user data (Jenkins LTS, plugins, Configuration as
Code) and its IAM instance profile (read-only EC2 and SSM read on the lab's parameters, so
Deploy and Verify read the lab's state with no keys on disk)."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources

from botocore.exceptions import ClientError

from vpclab.render import render

# The AWS target's git remote (the project's public repo): Jenkins' job and the deploy use it.
REPO_ENV = "VPCLAB_REPO_URL"

JENKINS_REPO = "https://pkg.jenkins.io/debian-stable"
PLUGIN_MANAGER = (
    "https://github.com/jenkinsci/plugin-installation-manager-tool/releases/download/"
    "2.13.2/jenkins-plugin-manager-2.13.2.jar"
)
DEPENDENCY_CHECK_VERSION = "10.0.4"
EC2_READ = [
    "ec2:DescribeAddresses",
    "ec2:DescribeImages",
    "ec2:DescribeInstances",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeKeyPairs",
    "ec2:DescribeNatGateways",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroupRules",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeTags",
    "ec2:DescribeVpcPeeringConnections",
    "ec2:DescribeVpcs",
]
SSM_READ = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]
POLICY_NAME = "vpclab-jenkins-read"


def parameter_prefix(lab: str) -> str:
    return f"/vpclab/{lab}"


def _jenkins_file(name: str) -> str:
    return resources.files("vpclab.render").joinpath("jenkins", name).read_text()


def plugins() -> list[str]:
    text = _jenkins_file("plugins.txt")
    return [line.strip() for line in text.splitlines() if line.strip()[:1].isalnum()]


def casc_yaml() -> str:
    return _jenkins_file("casc.yaml")


def user_data(lab: str, region: str, repo_url: str) -> str:
    return render(
        "jenkins-user-data.sh.j2",
        lab=lab,
        region=region,
        repo_url=repo_url,
        jenkins_repo=JENKINS_REPO,
        jenkins_key_url=f"{JENKINS_REPO}/jenkins.io-2023.key",
        plugin_manager_url=PLUGIN_MANAGER,
        plugins=plugins(),
        casc=casc_yaml(),
        parameter_prefix=parameter_prefix(lab),
        dependency_check_version=DEPENDENCY_CHECK_VERSION,
    )


def names(lab: str) -> str:
    """The role's and the instance profile's name."""
    return f"vpclab-{lab}-jenkins"


def policy(lab: str, region: str, account: str) -> dict:
    prefix = parameter_prefix(lab).lstrip("/")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadLabState", "Effect": "Allow", "Action": EC2_READ, "Resource": "*"},
            {
                "Sid": "ReadLabParameters",
                "Effect": "Allow",
                "Action": SSM_READ,
                "Resource": f"arn:aws:ssm:{region}:{account}:parameter/{prefix}/*",
            },
        ],
    }


TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _missing(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "NoSuchEntity"


def ensure_profile(iam, lab: str, region: str, account: str, say: Callable[[str], None]) -> str:
    """The Jenkins instance profile (role, inline policy, profile), made or mended; its name.
    Idempotent: nothing is written when all is in place."""
    name = names(lab)
    tags = [{"Key": "vpclab:lab", "Value": lab}, {"Key": "vpclab:role", "Value": "jenkins"}]
    try:
        iam.get_role(RoleName=name)
    except ClientError as exc:
        if not _missing(exc):
            raise
        iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(TRUST),
            Description=f"Jenkins of vpclab lab {lab}: reads the lab's state",
            Tags=tags,
        )
        say(f"created IAM role {name}")
    wanted = policy(lab, region, account)
    try:
        current = iam.get_role_policy(RoleName=name, PolicyName=POLICY_NAME)["PolicyDocument"]
    except ClientError as exc:
        if not _missing(exc):
            raise
        current = None
    if isinstance(current, str):
        current = json.loads(current)
    if current != wanted:
        iam.put_role_policy(
            RoleName=name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(wanted)
        )
        say(f"set the read-only policy of {name}")
    try:
        profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    except ClientError as exc:
        if not _missing(exc):
            raise
        profile = iam.create_instance_profile(InstanceProfileName=name, Tags=tags)[
            "InstanceProfile"
        ]
        say(f"created instance profile {name}")
    if name not in [r["RoleName"] for r in profile.get("Roles", [])]:
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return name


def delete_profile(iam, lab: str, say: Callable[[str], None]) -> None:
    """Remove the profile, the policy and the role; whatever is already gone is skipped."""
    name = names(lab)
    try:
        profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        for role in profile.get("Roles", []):
            iam.remove_role_from_instance_profile(
                InstanceProfileName=name, RoleName=role["RoleName"]
            )
        iam.delete_instance_profile(InstanceProfileName=name)
        say(f"deleted instance profile {name}")
    except ClientError as exc:
        if not _missing(exc):
            raise
    try:
        for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
        iam.delete_role(RoleName=name)
        say(f"deleted IAM role {name}")
    except ClientError as exc:
        if not _missing(exc):
            raise

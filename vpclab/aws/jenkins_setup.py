"""The Jenkins server on the aws target: its user data (Jenkins LTS, plugins, Configuration as
Code), its admin password in SSM, and its IAM instance profile (read-only EC2, and SSM read on
Jenkins' own parameters, so Deploy and Verify read the lab's state with no keys on disk)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from importlib import resources

from botocore.exceptions import ClientError

from vpclab.aws import limits, secrets
from vpclab.aws.owner import CREATOR
from vpclab.errors import VpclabError
from vpclab.render import render

# The AWS target's git remote (the project's public repo): Jenkins' job and the deploy use it.
REPO_ENV = "VPCLAB_REPO_URL"
# It lands in a root heredoc, a systemd unit and the Job DSL: an https URL of plain path
# characters only (no quote, space, $ or backslash can break out of any of them).
_REPO_URL = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~-]+)+/?")


def repo_url(required_for: str) -> str:
    """The project's public repository from VPCLAB_REPO_URL, checked before any use."""
    repo = os.environ.get(REPO_ENV, "")
    if not repo:
        raise VpclabError(
            f"{required_for} needs the project's repository",
            f"set {REPO_ENV} to the project's public repository URL",
        )
    if not _REPO_URL.fullmatch(repo):
        shown = repo[:80].encode("unicode_escape").decode()
        raise VpclabError(
            f"{REPO_ENV} {shown!r} is not a plain https URL",
            f"set {REPO_ENV} to e.g. https://github.com/OWNER/REPO.git (letters, digits, "
            "and . _ ~ - / only)",
        )
    return repo


JENKINS_REPO = limits.JENKINS_APT_REPO
JAVA = limits.JENKINS_JAVA[0]
PLUGIN_MANAGER = (
    "https://github.com/jenkinsci/plugin-installation-manager-tool/releases/download/"
    "2.13.2/jenkins-plugin-manager-2.13.2.jar"
)
DEPENDENCY_CHECK_VERSION = "12.2.2"
DEPENDENCY_CHECK_HOME = "/opt/dependency-check"
DEPENDENCY_CHECK_URL = (
    "https://github.com/dependency-check/DependencyCheck/releases/download/"
    f"v{DEPENDENCY_CHECK_VERSION}/dependency-check-{DEPENDENCY_CHECK_VERSION}-release.zip"
)
# What `vpclab verify` and `vpclab status` read on Jenkins, and Deploy through `status`
# (tests/controlplane/test_limits.py derives these calls and compares them with this list).
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
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeVpcPeeringConnections",
    "ec2:DescribeVpcs",
]
# Jenkins' own secrets only (admin password, NVD API key): never the app's SECRET_KEY nor
# Grafana's password, which live beside them under /vpclab/<lab>/.
SSM_READ = ["ssm:GetParameter", "ssm:GetParameters"]
POLICY_NAME = "vpclab-jenkins-read"
ADMIN_USER = "admin"


def parameter_prefix(lab: str) -> str:
    return secrets.prefix(lab)


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
        role="jenkins",
        region=region,
        repo_url=repo_url,
        java=JAVA,
        jenkins_repo=JENKINS_REPO,
        jenkins_key_url=f"{JENKINS_REPO}/{limits.JENKINS_KEY_FILE}",
        jenkins_key_fingerprint=limits.JENKINS_KEY_FINGERPRINT,
        plugin_manager_url=PLUGIN_MANAGER,
        plugins=plugins(),
        casc=casc_yaml(),
        parameter_prefix=parameter_prefix(lab),
        dependency_check_version=DEPENDENCY_CHECK_VERSION,
        dependency_check_url=DEPENDENCY_CHECK_URL,
        dependency_check_home=DEPENDENCY_CHECK_HOME,
    )


def names(lab: str, region: str) -> str:
    """The role's and the instance profile's name: IAM is global, so a lab of the same name in
    another region (or made by someone else) must not share it."""
    return f"vpclab-{lab}-{region}-jenkins"


def admin_password(ssm, lab: str, say: Callable[[str], None], creator: str | None = None) -> str:
    """Jenkins' admin password: an SSM SecureString made once, read by the user data."""
    return secrets.ensure(
        ssm, lab, "jenkins", "admin-password", say, creator=creator,
        description=f"Jenkins admin password of vpclab lab {lab}",
    )  # fmt: skip


def policy(lab: str, region: str, account: str) -> dict:
    jenkins_parameters = secrets.name(lab, "jenkins", "*").lstrip("/")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadLabState", "Effect": "Allow", "Action": EC2_READ, "Resource": "*"},
            {
                "Sid": "ReadJenkinsParameters",
                "Effect": "Allow",
                "Action": SSM_READ,
                "Resource": f"arn:aws:ssm:{region}:{account}:parameter/{jenkins_parameters}",
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


def _refuse_foreign(kind: str, name: str, tags: list[dict], creator: str | None) -> None:
    found = {t["Key"]: t["Value"] for t in tags}
    owner = found.get(CREATOR)
    if creator and owner and owner != creator:
        raise VpclabError(
            f"the IAM {kind} {name} was made by {owner}, not by you ({creator})",
            "pick another name in lab.toml (name = ...), or ask its creator to run 'vpclab down'",
        )


def ensure_profile(
    iam,
    lab: str,
    region: str,
    account: str,
    say: Callable[[str], None],
    creator: str | None = None,
) -> str:
    """The Jenkins instance profile (role, inline policy, profile), made or mended; its name.
    Idempotent: nothing is written when all is in place. A role or profile of that name that
    someone else made is refused, never adopted."""
    name = names(lab, region)
    tags = [
        {"Key": "vpclab:lab", "Value": lab},
        {"Key": "vpclab:role", "Value": "jenkins"},
        *([{"Key": CREATOR, "Value": creator}] if creator else []),
    ]
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except ClientError as exc:
        if not _missing(exc):
            raise
        iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(TRUST),
            Description=f"Jenkins of vpclab lab {lab} in {region}: reads the lab's state",
            Tags=tags,
        )
        say(f"created IAM role {name}")
    else:
        _refuse_foreign("role", name, role.get("Tags", []), creator)
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
    else:
        _refuse_foreign("instance profile", name, profile.get("Tags", []), creator)
    if name not in [r["RoleName"] for r in profile.get("Roles", [])]:
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return name


def delete_profile(
    iam, lab: str, region: str, say: Callable[[str], None], creator: str | None = None
) -> None:
    """Remove the profile, the policy and the role; whatever is already gone is skipped, and
    what someone else made is refused."""
    name = names(lab, region)
    try:
        profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        _refuse_foreign("instance profile", name, profile.get("Tags", []), creator)
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
        role = iam.get_role(RoleName=name)["Role"]
        _refuse_foreign("role", name, role.get("Tags", []), creator)
        for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
        iam.delete_role(RoleName=name)
        say(f"deleted IAM role {name}")
    except ClientError as exc:
        if not _missing(exc):
            raise

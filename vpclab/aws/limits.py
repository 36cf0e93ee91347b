"""What AWS, Ubuntu, Jenkins and Dependency-Check require that moto and the local target do not
enforce: one table, each fact with where it was read and when. Tests hold the kit to each one
(tests/controlplane/test_limits.py), and preflight checks the ones an account can answer."""

from __future__ import annotations

import re
from dataclasses import dataclass

READ_ON = "2026-12-04"  # when every source below was read


@dataclass(frozen=True)
class Source:
    url: str
    read: str = READ_ON


@dataclass(frozen=True)
class Ubuntu:
    """An Ubuntu LTS release as an AMI: its default Python and OpenJDK."""

    version: str
    codename: str
    python: tuple[int, int]
    openjdk: int
    source: Source


# --- EC2 --------------------------------------------------------------------------------------

USER_DATA_MAX_BYTES = 16_384
"""User data is limited to 16 KB in raw form, before it is base64-encoded."""
USER_DATA_SOURCE = Source(
    "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-add-user-data.html"
)

VCPU_QUOTA_SERVICE = "ec2"
VCPU_QUOTA_CODE = "L-1216C47A"
"""Service Quotas: "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", counted
in vCPUs per region (new accounts often start at 5)."""
VCPU_QUOTA_FAMILIES = "acdhimrtz"
VCPU_QUOTA_SOURCE = Source(
    "https://docs.aws.amazon.com/cli/latest/userguide/cli_service-quotas_code_examples.html"
)

T3_UNLIMITED_USD_PER_VCPU_HOUR = 0.05
"""T3 instances launch as `unlimited`: a 24-hour average CPU above the baseline bills surplus
credits at a flat rate per vCPU-hour (Linux)."""
T3_UNLIMITED_SOURCES = (
    Source(
        "https://docs.amazonaws.cn/en_us/AWSEC2/latest/WindowsGuide/"
        "burstable-performance-instances-unlimited-mode.html"
    ),
    # The rate, as announced with T3 (the pricing page's "Unlimited Mode Pricing" section).
    Source(
        "https://bright-softwares.com/blog/en/aws/amazons-t3-who-should-use-it-when-how-and-the-why"
    ),
)

# --- Ubuntu -----------------------------------------------------------------------------------

UBUNTU = {
    "22.04": Ubuntu(
        "22.04",
        "jammy",
        (3, 10),
        11,
        Source("https://github.com/cpp-linter/cpp-linter-action/pull/186"),
    ),
    "24.04": Ubuntu(
        "24.04",
        "noble",
        (3, 12),
        21,
        Source("https://discourse.ubuntu.com/t/noble-numbat-release-notes/39890"),
    ),
}
UBUNTU_RELEASE = UBUNTU["24.04"]  # every role's AMI
UBUNTU_AMI_PARAMETER = (
    "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
)
UBUNTU_AMI_PARAMETER_SOURCE = Source(
    "https://discourse.ubuntu.com/t/finding-ubuntu-images-with-the-aws-ssm-parameter-store/15507"
)
_PARAMETER_RELEASE = re.compile(r"/ubuntu/server(?:-minimal)?/(\d\d\.\d\d|[a-z]+)/")


def ubuntu_of_parameter(parameter: str) -> Ubuntu | None:
    """The Ubuntu release a Canonical SSM parameter names (by version or codename), or None
    when the parameter is not one of Canonical's."""
    match = _PARAMETER_RELEASE.search(parameter)
    if not match:
        return None
    name = match[1]
    return next((u for u in UBUNTU.values() if name in (u.version, u.codename)), None)


_IMAGE_NAME_RELEASE = re.compile(r"ubuntu-([a-z]+)-(\d\d\.\d\d)-")


def ubuntu_of_image_name(name: str) -> str | None:
    """The release a Canonical image name carries ('ubuntu/images/.../ubuntu-noble-24.04-
    amd64-server-2026...'), or None for an image named otherwise."""
    match = _IMAGE_NAME_RELEASE.search(name or "")
    return match[2] if match else None


# --- Jenkins ----------------------------------------------------------------------------------

JENKINS_APT_REPO = "https://pkg.jenkins.io/debian-stable"
JENKINS_KEY_FILE = "jenkins.io-2026.key"
JENKINS_KEY_FINGERPRINT = "5E386EADB55F01504CAE8BCF7198F4B714ABFC68"
"""rsa4096, made 2025-12-22, expires 2028-12-21; it has signed the LTS repository since
January 2026 (the 2023 key expired on 2026-03-26)."""
JENKINS_KEY_SOURCES = (
    Source("https://pkg.jenkins.io/debian/"),
    Source("https://pkg.jenkins.io/debian-stable/"),
    Source("https://github.com/jenkins-infra/jenkins.io/pull/8647"),
    Source("https://github.com/geerlingguy/ansible-role-jenkins/pull/404"),
)
JENKINS_JAVA = (21, 25)
"""Java versions Jenkins LTS 2.555.1 and later run on (Java 17 is no longer supported)."""
JENKINS_JAVA_SOURCES = (
    Source("https://karandeepsingh.ca/posts/jenkins-java-compatibility/"),
    Source(
        "https://docs.cloudbees.com/docs/cloudbees-ci/latest/cloud-upgrade-guide/"
        "java-21-migration-cloud"
    ),
)

# --- OWASP Dependency-Check -------------------------------------------------------------------

DEPENDENCY_CHECK_MINIMUM = (12, 1, 0)
"""Older releases can no longer parse the NVD's data: upgrading is mandatory."""
DEPENDENCY_CHECK_MINIMUM_SOURCE = Source(
    "https://github.com/dependency-check/DependencyCheck/issues/7463"
)
DEPENDENCY_CHECK_PIP_FLAG = "--enableExperimental"
"""The pip analyzer (files named exactly requirements.txt) runs only with this flag."""
DEPENDENCY_CHECK_PIP_SOURCE = Source(
    "https://jeremylong.github.io/DependencyCheck/analyzers/pip.html"
)


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def python_satisfies(python: tuple[int, int], requires: str) -> bool:
    """Whether a Python X.Y meets a Requires-Python specifier."""
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(requires).contains(f"{python[0]}.{python[1]}.0", prereleases=True)


# --- IAM: what each role is allowed --------------------------------------------------------

UNAUTHORIZED_CALLS = {"sts:GetCallerIdentity"}
"""Calls that need no IAM permission: the caller's identity is returned even when denied."""
# An API operation's IAM action is "<prefix>:<operation>"; the prefix differs from boto3's
# service name for a few services.
IAM_PREFIX = {"service-quotas": "servicequotas"}


def iam_action(service: str, operation: str) -> str:
    return f"{IAM_PREFIX.get(service, service)}:{operation}"


GET_CALLER_IDENTITY_SOURCE = Source(
    "https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html"
)

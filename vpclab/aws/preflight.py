"""Preflight for target aws: everything `up` needs, checked with reads only, before anything
is created (and before the NAT starts billing). Each failure is one line with the fix."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from botocore.exceptions import ClientError

from vpclab.aws import admin, limits, owner
from vpclab.aws.inventory import LabState, route_target, route_to
from vpclab.aws.jenkins_setup import repo_url
from vpclab.aws.retry import error_code
from vpclab.aws.session import Cloud
from vpclab.aws.tags import LAB, tags_of
from vpclab.errors import VpclabError
from vpclab.spec import LabSpec

SERVER_STEPS = ("jenkins", "instances")
ROLES_OF_STEP = {"jenkins": ("jenkins",), "instances": ("web", "app", "monitoring")}


class PreflightError(VpclabError):
    """Something `up --target aws` needs is missing: nothing was created."""


@dataclass(frozen=True)
class Found:
    """What preflight read, shown before the confirmation."""

    account: str
    arn: str
    region: str
    default_vpc_id: str
    default_vpc_cidr: str
    image_id: str | None
    notes: tuple[str, ...] = ()  # what it could not check, or what the operator should know


def run(
    cloud: Cloud, spec: LabSpec, state: LabState, steps: list[str], allow_world_admin: bool
) -> Found:
    ec2 = cloud.ec2
    ident = cloud.client("sts").get_caller_identity()
    owner.refuse_foreign(state, ident["Arn"])
    admin.check_for_aws(spec.admin_cidr, allow_world_admin)

    if state.default_vpc is None:
        raise PreflightError(
            f"there is no default VPC in {spec.region} (Jenkins runs there)",
            "create one with 'aws ec2 create-default-vpc' and run again",
        )
    default_cidr = state.default_vpc["CidrBlock"]
    if ipaddress.ip_network(spec.cidr).overlaps(ipaddress.ip_network(default_cidr)):
        raise PreflightError(
            f"cidr {spec.cidr} overlaps the default VPC's {default_cidr}, so peering cannot work",
            "pick another cidr in lab.toml",
        )
    if "jenkins" in steps:
        _default_route_is_free(spec, state)
        try:
            repo_url("Jenkins on aws (its workload_4 job)")
        except VpclabError as exc:
            raise PreflightError(exc.problem, exc.fix) from None

    roles = [r for step in steps if step in SERVER_STEPS for r in ROLES_OF_STEP[step]]
    image = _image(cloud, spec) if roles else None
    notes: list[str] = []
    if image is not None:
        types = _instance_types(ec2, spec, roles, image)
        _types_offered(ec2, spec, roles)
        _no_name_clash(ec2, spec, state, roles)
        new = [r for r in roles if r not in state.instances]
        notes += _vcpu_quota(cloud, spec, [types[spec.instance(r).instance_type] for r in new])
        if any(t.startswith("t3") for t in types):
            notes.append(
                "T3 instances run 'unlimited': a day's average CPU above the baseline bills "
                f"USD {limits.T3_UNLIMITED_USD_PER_VCPU_HOUR:.2f} per vCPU-hour on top"
            )
    return Found(
        account=ident["Account"],
        arn=ident["Arn"],
        region=spec.region,
        default_vpc_id=state.default_vpc["VpcId"],
        default_vpc_cidr=default_cidr,
        image_id=image["ImageId"] if image else None,
        notes=tuple(notes),
    )


def _default_route_is_free(spec: LabSpec, state: LabState) -> None:
    route = route_to(state.default_route_table, spec.cidr)
    if route and route_target(route) not in state.tagged.peering_ids:
        raise PreflightError(
            f"the default VPC's main route table already sends {spec.cidr} to "
            f"{route_target(route)}, which vpclab did not create",
            "pick another cidr in lab.toml, or remove that route if it is unused",
        )


def _image(cloud: Cloud, spec: LabSpec) -> dict:
    image_id = spec.ami_id
    if not image_id:
        try:
            image_id = cloud.client("ssm").get_parameter(Name=spec.ami_ssm_parameter)["Parameter"][
                "Value"
            ]
        except ClientError as exc:
            raise PreflightError(
                f"the AMI parameter {spec.ami_ssm_parameter} does not resolve in {spec.region} "
                f"({error_code(exc)})",
                "check ami_ssm_parameter and your ssm:GetParameter permission, or set ami_id",
            ) from None
    try:
        images = cloud.ec2.describe_images(ImageIds=[image_id])["Images"]
    except ClientError as exc:
        images, code = [], error_code(exc)
    else:
        code = "not found"
    if not images:
        raise PreflightError(
            f"image {image_id} is not available in {spec.region} ({code})",
            "fix ami_id or ami_ssm_parameter in lab.toml",
        )
    release = limits.ubuntu_of_image_name(images[0].get("Name", ""))
    wanted = limits.UBUNTU_RELEASE
    if release and release != wanted.version:
        python = limits.UBUNTU.get(release)
        has = f", whose Python is {python.python[0]}.{python.python[1]}" if python else ""
        raise PreflightError(
            f"image {image_id} is Ubuntu {release}{has}: the app's pinned packages need the "
            f"Python of Ubuntu {wanted.version} ({wanted.python[0]}.{wanted.python[1]})",
            f'set ami_ssm_parameter = "{limits.UBUNTU_AMI_PARAMETER}" in lab.toml',
        )
    return images[0]


def _instance_types(ec2, spec: LabSpec, roles: list[str], image: dict) -> dict[str, int]:
    """The plan's instance types must exist and run the image's architecture; their vCPUs."""
    wanted = sorted({spec.instance(r).instance_type for r in roles})
    try:
        found = ec2.describe_instance_types(InstanceTypes=wanted)["InstanceTypes"]
    except ClientError as exc:
        if error_code(exc) != "InvalidInstanceType":
            raise
        listed = re.search(r"\[([^\]]+)\]", exc.response["Error"].get("Message", ""))
        raise PreflightError(
            f"instance type {listed[1] if listed else ', '.join(wanted)} does not exist in "
            f"{spec.region}",
            "fix instance_type under [instances.<role>] in lab.toml",
        ) from None
    arch = image.get("Architecture")
    for item in found:
        supported = item.get("ProcessorInfo", {}).get("SupportedArchitectures", [])
        if arch and supported and arch not in supported:
            raise PreflightError(
                f"instance type {item['InstanceType']} runs {', '.join(supported)}, "
                f"not the image's {arch}",
                "pick an instance_type for the image's architecture in lab.toml",
            )
    return {t["InstanceType"]: t["VCpuInfo"]["DefaultVCpus"] for t in found}


def _vcpus_running(ec2, sizes: dict[str, int]) -> int:
    """vCPUs of the region's pending and running On-Demand Standard instances."""
    total = 0
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    )
    for page in pages:
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                kind = instance["InstanceType"]
                if kind[0] not in limits.VCPU_QUOTA_FAMILIES or instance.get(
                    "SpotInstanceRequestId"
                ):
                    continue
                cpu = instance.get("CpuOptions", {})
                total += cpu.get("CoreCount", 0) * cpu.get("ThreadsPerCore", 1) or sizes.get(
                    kind, 2
                )
    return total


def _vcpu_quota(cloud: Cloud, spec: LabSpec, new_vcpus: list[int]) -> list[str]:
    """The plan's new vCPUs must fit the region's On-Demand Standard quota (new accounts may
    have 5: the whole lab needs 8). Returns a note when the quota cannot be read."""
    if not new_vcpus:
        return []
    try:
        quota = cloud.client("service-quotas").get_service_quota(
            ServiceCode=limits.VCPU_QUOTA_SERVICE, QuotaCode=limits.VCPU_QUOTA_CODE
        )["Quota"]["Value"]
    except ClientError as exc:
        return [
            f"vCPU quota not checked ({error_code(exc)}): the lab needs {sum(new_vcpus)} more "
            f"vCPUs of On-Demand Standard instances (quota {limits.VCPU_QUOTA_CODE})"
        ]
    sizes = {spec.instance(r).instance_type: 2 for r in spec.instances}
    running = _vcpus_running(cloud.ec2, sizes)
    if running + sum(new_vcpus) > quota:
        raise PreflightError(
            f"the plan needs {sum(new_vcpus)} more vCPUs, but {spec.region}'s quota for "
            f"On-Demand Standard instances is {quota:g} vCPUs and {running} are in use",
            f"request an increase of quota {limits.VCPU_QUOTA_CODE} in Service Quotas (it can "
            "take a day), or stop other instances",
        )
    return []


def _types_offered(ec2, spec: LabSpec, roles: list[str]) -> None:
    wanted = sorted({spec.instance(r).instance_type for r in roles})
    offers = ec2.describe_instance_type_offerings(
        LocationType="availability-zone",
        Filters=[
            {"Name": "location", "Values": [spec.az]},
            {"Name": "instance-type", "Values": wanted},
        ],
    )["InstanceTypeOfferings"]
    missing = sorted(set(wanted) - {o["InstanceType"] for o in offers})
    if missing:
        raise PreflightError(
            f"instance type {missing[0]} is not offered in {spec.az}",
            "pick another zone in azs, or another instance_type in lab.toml",
        )


def _no_name_clash(ec2, spec: LabSpec, state: LabState, roles: list[str]) -> None:
    """Key pairs and security groups are unique by name: one vpclab did not tag for this lab
    would make a create fail after the NAT already bills."""
    names = [spec.instance(r).key_name for r in roles]
    keys = ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": names}])["KeyPairs"]
    for key in keys:
        if tags_of(key).get(LAB) != spec.name:
            raise PreflightError(
                f"a key pair named {key['KeyName']!r} exists and is not this lab's",
                "set another key_name under [instances.<role>] in lab.toml, or delete it",
            )
    vpcs = [state.default_vpc["VpcId"]] + ([state.vpc["VpcId"]] if state.vpc else [])
    groups = ec2.describe_security_groups(
        Filters=[
            {"Name": "group-name", "Values": [f"{spec.name}-{r}" for r in roles]},
            {"Name": "vpc-id", "Values": vpcs},
        ]
    )["SecurityGroups"]
    for group in groups:
        if tags_of(group).get(LAB) != spec.name:
            raise PreflightError(
                f"a security group named {group['GroupName']!r} ({group['GroupId']}) exists "
                "and is not this lab's",
                "rename the lab (name = ... in lab.toml), or delete that group",
            )

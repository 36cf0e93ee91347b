"""Shared by the `jenkins` and `instances` steps: key pairs, security groups, AMIs, instances."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from vpclab.aws import keypairs
from vpclab.aws.inventory import IngressRule, allows, ingress_rules
from vpclab.errors import VpclabError
from vpclab.render import render
from vpclab.steps.context import Context

LOCAL_IMAGE_NAME = "vpclab-local-image"
USER_DATA_PACKAGES = {
    "jenkins": ["git", "openssh-client", "python3-venv"],
    "web": [
        "nginx",
        "openssh-client",
        "supervisor",
        "prometheus-node-exporter",
        "prometheus-nginx-exporter",
    ],
    "app": ["git", "python3-venv", "supervisor", "prometheus-node-exporter"],
    "monitoring": ["prometheus", "prometheus-alertmanager", "supervisor"],
}


@dataclass(frozen=True)
class Ingress:
    """One inbound rule: a TCP port from a CIDR or from another security group."""

    port: int
    cidr: str | None = None
    group_id: str | None = None
    description: str = ""

    def permission(self) -> dict:
        perm: dict = {"IpProtocol": "tcp", "FromPort": self.port, "ToPort": self.port}
        if self.cidr:
            perm["IpRanges"] = [{"CidrIp": self.cidr, "Description": self.description}]
        else:
            perm["UserIdGroupPairs"] = [{"GroupId": self.group_id, "Description": self.description}]
        return perm


def ensure_key_pair(ctx: Context, role: str, existing: dict | None) -> str:
    key_name = ctx.spec.instance(role).key_name
    pem = keypairs.private_key_path(ctx.keys_dir, key_name)
    if existing is not None:
        if not pem.exists():
            raise VpclabError(
                f"key pair {key_name!r} exists but its private key {pem.name} is not in the "
                "state folder",
                "restore the file, or run 'vpclab down' and 'vpclab up' again",
            )
        return key_name
    public = keypairs.validate_public_key(keypairs.generate(ctx.keys_dir, key_name), key_name)
    ctx.ec2.import_key_pair(
        KeyName=key_name,
        PublicKeyMaterial=public.encode(),
        TagSpecifications=ctx.tag_spec("key-pair", role, key_name),
    )
    ctx.say(f"created key pair {key_name} (private key {pem.name}, mode 0600)")
    return key_name


def ensure_security_group(
    ctx: Context,
    role: str,
    vpc_id: str,
    existing: dict | None,
    rules: list[Ingress],
    description: str,
) -> str:
    if existing is None:
        group_id = ctx.ec2.create_security_group(
            GroupName=f"{ctx.spec.name}-{role}",
            Description=description,
            VpcId=vpc_id,
            TagSpecifications=ctx.tag_spec("security-group", role),
        )["GroupId"]
        ctx.say(f"created security group {group_id} ({role})")
        have: list[IngressRule] = []
    else:
        group_id, have = existing["GroupId"], ingress_rules(existing)
    missing = [r for r in rules if not allows(have, r.port, r.cidr or r.group_id)]
    if missing:
        ctx.ec2.authorize_security_group_ingress(
            GroupId=group_id, IpPermissions=[r.permission() for r in missing]
        )
        ctx.say(
            f"{role} security group: allowed "
            + ", ".join(f"{r.port} from {r.description}" for r in missing)
        )
    return group_id


def resolve_ami(ctx: Context) -> str:
    if ctx.spec.ami_id:
        return ctx.spec.ami_id
    try:
        return ctx.cloud.client("ssm").get_parameter(Name=ctx.spec.ami_ssm_parameter)["Parameter"][
            "Value"
        ]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ParameterNotFound":
            raise
    if ctx.cloud.target != "local":
        raise VpclabError(
            f"SSM parameter {ctx.spec.ami_ssm_parameter!r} not found in {ctx.spec.region}",
            "fix ami_ssm_parameter or set ami_id in the spec",
        )
    # moto publishes no Canonical parameters: the local cloud's own image stands in.
    return _local_image(ctx)


def _local_image(ctx: Context) -> str:
    images = ctx.ec2.describe_images(
        Owners=["self"], Filters=[{"Name": "name", "Values": [LOCAL_IMAGE_NAME]}]
    )["Images"]
    if images:
        return images[0]["ImageId"]
    image = ctx.ec2.register_image(
        Name=LOCAL_IMAGE_NAME,
        Architecture="x86_64",
        RootDeviceName="/dev/sda1",
        VirtualizationType="hvm",
        Description="The machine's own software (vpclab local image)",
    )
    ctx.say(f"registered the local image {image['ImageId']}")
    return image["ImageId"]


def ensure_instance(
    ctx: Context,
    role: str,
    existing: dict | None,
    subnet_id: str,
    group_id: str,
    key_name: str,
    public_ip: bool,
) -> dict:
    if existing is not None:
        return existing
    user_data = render(
        "user-data.sh.j2", lab=ctx.spec.name, role=role, packages=USER_DATA_PACKAGES[role]
    )
    instance = ctx.ec2.run_instances(
        ImageId=resolve_ami(ctx),
        InstanceType=ctx.spec.instance(role).instance_type,
        MinCount=1,
        MaxCount=1,
        KeyName=key_name,
        UserData=user_data,
        NetworkInterfaces=[
            {
                "DeviceIndex": 0,
                "SubnetId": subnet_id,
                "Groups": [group_id],
                "AssociatePublicIpAddress": public_ip,
            }
        ],
        TagSpecifications=ctx.tag_spec("instance", role),
    )["Instances"][0]
    ctx.ec2.get_waiter("instance_running").wait(InstanceIds=[instance["InstanceId"]])
    ctx.say(
        f"launched {role} server {instance['InstanceId']} ({ctx.spec.instance(role).instance_type})"
    )
    return instance

"""Shared by the `jenkins` and `instances` steps: key pairs, security groups, AMIs, instances."""

from __future__ import annotations

from botocore.exceptions import ClientError

from vpclab.aws import keypairs, retry
from vpclab.aws.inventory import IngressRule, allows, ingress_rules
from vpclab.cost import ROOT_VOLUME_GB, ROOT_VOLUME_TYPE
from vpclab.errors import VpclabError
from vpclab.facts.security_groups import Ingress, describe_permission, unexpected
from vpclab.render import render
from vpclab.steps.context import Context, first

LOCAL_IMAGE_NAME = "vpclab-local-image"
GONE_INSTANCE = ("shutting-down", "terminated")
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


def profile_not_seen_yet(exc: BaseException) -> bool:
    # IAM is eventually consistent: EC2 may not know a profile made a moment ago.
    return retry.error_code(exc) == "InvalidParameterValue"


def revoke_extra(ctx: Context, role: str, group: dict | None, keep: list[Ingress]) -> None:
    """Remove every inbound rule of the group that the lab does not want (an old `up` or a
    hand-made rule): the group allows exactly `keep`."""
    extra = unexpected(group, keep) if group else []
    if extra:
        ctx.settle(
            ctx.ec2.revoke_security_group_ingress, GroupId=group["GroupId"], IpPermissions=extra
        )
        ctx.say(
            f"{role} security group: removed " + ", ".join(describe_permission(p) for p in extra)
        )


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
        ctx.settle(
            ctx.ec2.authorize_security_group_ingress,
            GroupId=group_id,
            IpPermissions=[r.permission() for r in missing],
        )
        ctx.say(
            f"{role} security group: allowed "
            + ", ".join(f"{r.port} from {r.description}" for r in missing)
        )
    return group_id


def resolve_ami(ctx: Context) -> tuple[str, str]:
    """The image id and its root device name, asked once per run."""
    if "ami" not in ctx.cache:
        ctx.cache["ami"] = _image(ctx)
    return ctx.cache["ami"]


def _image(ctx: Context) -> tuple[str, str]:
    image_id = ctx.spec.ami_id or _ami_parameter(ctx)
    if image_id is None:
        # moto publishes no Canonical parameters: the local cloud's own image stands in
        # (`Site.image_stands_in`).
        return _local_image(ctx)
    images = ctx.ec2.describe_images(ImageIds=[image_id])["Images"]
    if not images:
        raise VpclabError(
            f"image {image_id} is not available in {ctx.spec.region}",
            "fix ami_id or ami_ssm_parameter in the spec",
        )
    return image_id, images[0].get("RootDeviceName", "/dev/sda1")


def _ami_parameter(ctx: Context) -> str | None:
    try:
        return ctx.cloud.client("ssm").get_parameter(Name=ctx.spec.ami_ssm_parameter)["Parameter"][
            "Value"
        ]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ParameterNotFound":
            raise
    if not ctx.site.image_stands_in:
        raise VpclabError(
            f"SSM parameter {ctx.spec.ami_ssm_parameter!r} not found in {ctx.spec.region}",
            "fix ami_ssm_parameter or set ami_id in the spec",
        )
    return None


def _local_image(ctx: Context) -> tuple[str, str]:
    images = ctx.ec2.describe_images(
        Owners=["self"], Filters=[{"Name": "name", "Values": [LOCAL_IMAGE_NAME]}]
    )["Images"]
    if images:
        return images[0]["ImageId"], images[0].get("RootDeviceName", "/dev/sda1")
    image = ctx.ec2.register_image(
        Name=LOCAL_IMAGE_NAME,
        Architecture="x86_64",
        RootDeviceName="/dev/sda1",
        VirtualizationType="hvm",
        Description="The machine's own software (vpclab local image)",
    )
    ctx.say(f"registered the local image {image['ImageId']}")
    return image["ImageId"], "/dev/sda1"


def grafana_values(ctx: Context, role: str) -> dict:
    """What the monitoring server's user data needs to install Grafana (not its files, which
    the `monitoring` step copies over SSH), where Grafana is installed at all."""
    from vpclab.monitoring import grafana

    if role != "monitoring" or ctx.site.why_no_grafana():
        return {}
    return {"grafana_repo": grafana.APT_REPO, "grafana_key_url": grafana.APT_KEY_URL}


def render_user_data(ctx: Context, role: str) -> str:
    return render(
        "user-data.sh.j2",
        lab=ctx.spec.name,
        role=role,
        packages=USER_DATA_PACKAGES[role],
        **grafana_values(ctx, role),
    )


def launch_parameters(
    ctx: Context, role: str, subnet_id: str, group_id: str, key_name: str, public_ip: bool
) -> dict:
    """run_instances' arguments, hardened: IMDSv2 only, an encrypted root disk, and an
    interface deleted with the instance (else it lingers and blocks the subnet's delete)."""
    image_id, root_device = resolve_ami(ctx)
    user_data = render_user_data(ctx, role)
    return {
        "ImageId": image_id,
        "InstanceType": ctx.spec.instance(role).instance_type,
        "MinCount": 1,
        "MaxCount": 1,
        "KeyName": key_name,
        "UserData": user_data,
        "NetworkInterfaces": [
            {
                "DeviceIndex": 0,
                "SubnetId": subnet_id,
                "Groups": [group_id],
                "AssociatePublicIpAddress": public_ip,
                "DeleteOnTermination": True,
            }
        ],
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        "BlockDeviceMappings": [
            {
                "DeviceName": root_device,
                "Ebs": {
                    "VolumeSize": ROOT_VOLUME_GB,
                    "VolumeType": ROOT_VOLUME_TYPE,
                    "Encrypted": True,
                    "DeleteOnTermination": True,
                },
            }
        ],
        "TagSpecifications": ctx.tag_spec("instance", role),
    }


def ensure_instance(
    ctx: Context,
    role: str,
    existing: dict | None,
    subnet_id: str,
    group_id: str,
    key_name: str,
    public_ip: bool,
    lab_vpc: str,
    user_data: str | None = None,
    profile: str | None = None,
) -> dict:
    """Launch the role's server unless it runs, with a fixed idempotency token (lab, role,
    subnet and the lab's VPC, which is new after a `down`), then wait until it runs.
    `user_data` replaces the role's rendered user data (Jenkins on aws); `profile` is the
    instance profile it starts with, so its user data can read SSM at once."""
    if existing is not None:
        return existing
    params = launch_parameters(ctx, role, subnet_id, group_id, key_name, public_ip)
    if user_data is not None:
        params["UserData"] = user_data
    if profile is not None:
        params["IamInstanceProfile"] = {"Name": profile}
    token = ctx.token(role, subnet_id, lab_vpc)
    for _ in range(3):
        instance = retry.call(
            lambda token=token: ctx.settle(ctx.ec2.run_instances, ClientToken=token, **params),
            when=profile_not_seen_yet,
            what=f"EC2 to see the instance profile {profile}",
            budget=ctx.pacing.settle_budget if profile else 0,
            pacing=ctx.pacing,
            say=ctx.say,
        )["Instances"][0]
        if instance["State"]["Name"] not in GONE_INSTANCE:
            break
        # The token named an instance terminated since: a new token for a new one.
        token = ctx.token(role, subnet_id, lab_vpc, instance["InstanceId"])
    else:
        raise VpclabError(
            f"launching the {role} server keeps returning terminated instances",
            "run 'vpclab down', then 'vpclab up' again",
        )
    instance_id = instance["InstanceId"]
    instance = ctx.wait_for(
        lambda: first(
            i
            for r in ctx.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
            for i in r["Instances"]
        ),
        lambda i: i["State"]["Name"] != "pending",
        f"{role} server {instance_id} to run",
    )
    if instance["State"]["Name"] != "running":
        raise VpclabError(
            f"the {role} server {instance_id} is {instance['State']['Name']}: "
            f"{instance.get('StateReason', {}).get('Message', 'no reason given')}",
            "run 'vpclab up' again",
        )
    ctx.say(f"launched {role} server {instance_id} ({ctx.spec.instance(role).instance_type})")
    return instance

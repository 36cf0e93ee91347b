"""Small helpers the step notebooks call around their boto3 calls: the parts that are not
the lesson (tags in the lab's convention, key material, the image, user data)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from vpclab.aws import keypairs, tags
from vpclab.errors import VpclabError
from vpclab.render import render
from vpclab.steps.compute import USER_DATA_PACKAGES, resolve_ami

if TYPE_CHECKING:
    from vpclab.lab import Lab


def tag_spec(lab: Lab, resource_type: str, role: str, name: str | None = None) -> list[dict]:
    """TagSpecifications for a create call: Name, `vpclab:lab`, `vpclab:role` and the spec's
    own tags. The lab, its checks and its teardown find resources by these tags."""
    return lab.context().tag_spec(resource_type, role, name)


def role(resource: dict) -> str | None:
    """The `vpclab:role` tag of a described resource."""
    return tags.role_of(resource)


def by_role(resources: list[dict]) -> dict[str, dict]:
    """Described resources keyed by their `vpclab:role` tag."""
    return {r: res for res in resources if (r := tags.role_of(res))}


def only(found: list[dict], what: str, made_in: str) -> dict:
    """The one resource a describe call found by the lab's tags, or a one-line error: none
    (the step that makes it is not done) or several (a create cell ran twice)."""
    if not found:
        raise VpclabError(f"no {what} tagged for this lab yet", f"do {made_in} first")
    if len(found) > 1:
        raise VpclabError(
            f"{len(found)} of the {what} are tagged for this lab (a create cell ran twice?)",
            "delete the extra one (the checks judge one) and run this cell again",
        )
    return found[0]


def new_key_pair(lab: Lab, role_name: str) -> str:
    """Make the role's key pair here: the private half goes 0600 into the state folder, the
    public half (returned, one OpenSSH line) is what `import_key_pair` sends.

    Refuses when AWS already holds the key pair and its private key is on disk: a new key
    would overwrite the only private half of the key the servers trust, before AWS refused
    the duplicate import."""
    key_name = lab.spec.instance(role_name).key_name
    pem = keypairs.private_key_path(lab.keys_dir, key_name)
    if pem.exists() and _key_pair_exists(lab, key_name):
        raise VpclabError(
            f"key pair {key_name!r} is already in AWS and its private key {pem.name} is in the "
            "state folder: kept both, nothing overwritten",
            "this part of the step is done; go on with the next cell",
        )
    return keypairs.generate(lab.keys_dir, key_name)


def _key_pair_exists(lab: Lab, key_name: str) -> bool:
    try:
        return bool(lab.cloud.ec2.describe_key_pairs(KeyNames=[key_name])["KeyPairs"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "InvalidKeyPair.NotFound":
            return False
        raise


def image(lab: Lab) -> str:
    """The machine image: the spec's AMI parameter on AWS, the local image in the local cloud."""
    return resolve_ami(lab.context())[0]


def user_data(lab: Lab, role_name: str) -> str:
    """The role's first-boot script (packages, a marker file), as the library renders it."""
    return render(
        "user-data.sh.j2", lab=lab.spec.name, role=role_name, packages=USER_DATA_PACKAGES[role_name]
    )

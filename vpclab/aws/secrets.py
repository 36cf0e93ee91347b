"""The lab's secrets in SSM Parameter Store: SecureStrings under /vpclab/<lab>/, generated once,
tagged with the lab (and its creator on AWS) like every other resource, and deleted by
`down`. A parameter another person's lab made is refused, never read or overwritten."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from botocore.exceptions import ClientError

from vpclab.aws.owner import CREATOR
from vpclab.aws.tags import LAB, ROLE
from vpclab.errors import VpclabError

Say = Callable[[str], None]


def prefix(lab: str) -> str:
    return f"/vpclab/{lab}"


def name(lab: str, role: str, key: str) -> str:
    """e.g. /vpclab/microblog/jenkins/admin-password."""
    return f"{prefix(lab)}/{role}/{key}"


def _tags(ssm, parameter: str) -> dict[str, str]:
    found = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=parameter)
    return {t["Key"]: t["Value"] for t in found.get("TagList", [])}


def ensure(
    ssm,
    lab: str,
    role: str,
    key: str,
    say: Say,
    *,
    creator: str | None = None,
    description: str = "",
    value: Callable[[], str] = lambda: secrets.token_urlsafe(24),
) -> str:
    """The SecureString's value, created (tagged) when missing. Never overwrites one."""
    parameter = name(lab, role, key)
    try:
        found = ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ParameterNotFound":
            raise
    else:
        owner = _tags(ssm, parameter).get(CREATOR)
        if creator and owner and owner != creator:
            raise VpclabError(
                f"the SSM parameter {parameter} was made by {owner}, not by you ({creator})",
                "pick another name in lab.toml (name = ...), or ask its creator to run "
                "'vpclab down'",
            )
        return found
    tags = {LAB: lab, ROLE: role, **({CREATOR: creator} if creator else {})}
    ssm.put_parameter(
        Name=parameter,
        Value=value(),
        Type="SecureString",
        Overwrite=False,
        Description=description or f"{key} of the {role} in vpclab lab {lab}",
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    say(f"created the SSM parameter {parameter} (SecureString)")
    return ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]


def tagged(ssm, lab: str) -> list[str]:
    """The parameters tagged for the lab (those vpclab made), by name."""
    names: list[str] = []
    pages = ssm.get_paginator("describe_parameters").paginate(
        ParameterFilters=[{"Key": f"tag:{LAB}", "Values": [lab]}]
    )
    for page in pages:
        names += [p["Name"] for p in page["Parameters"]]
    return sorted(names)


def delete_tagged(
    ssm, lab: str, say: Say, dry_run: bool = False, creator: str | None = None
) -> list[str]:
    """Delete the lab's tagged parameters; one an operator put there by hand (untagged, such
    as an NVD API key) is kept, and one another creator's lab made is refused."""
    gone = tagged(ssm, lab)
    for parameter in gone:
        owner = _tags(ssm, parameter).get(CREATOR)
        if creator and owner and owner != creator:
            raise VpclabError(
                f"the SSM parameter {parameter} was made by {owner}, not by you ({creator})",
                "ask its creator to run 'vpclab down'",
            )
    for parameter in gone:
        if dry_run:
            say(f"would delete the SSM parameter {parameter}")
            continue
        try:
            ssm.delete_parameter(Name=parameter)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ParameterNotFound":
                raise
        say(f"deleted the SSM parameter {parameter}")
    return gone

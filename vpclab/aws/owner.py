"""Who made a lab: resources carry the creator's ARN, so students who share an account never
adopt or delete each other's labs of the same name."""

from __future__ import annotations

from vpclab.aws.inventory import LabState
from vpclab.aws.session import Cloud
from vpclab.aws.tags import tags_of
from vpclab.errors import VpclabError

CREATOR = "vpclab:creator"


def caller_arn(cloud: Cloud) -> str:
    return cloud.client("sts").get_caller_identity()["Arn"]


def creators(state: LabState) -> set[str]:
    """The creator tags found on the lab's resources (untagged ones count as no one)."""
    tagged = state.tagged
    kinds = [
        tagged.vpcs,
        tagged.subnets,
        tagged.route_tables,
        tagged.igws,
        tagged.eips,
        tagged.nats,
        tagged.peerings,
        tagged.security_groups,
        tagged.instances,
        tagged.key_pairs,
    ]
    return {c for kind in kinds for r in kind if (c := tags_of(r).get(CREATOR))}


def refuse_foreign(state: LabState, arn: str) -> None:
    others = sorted(creators(state) - {arn})
    if others:
        raise VpclabError(
            f"a lab named {state.lab!r} in this account and region was made by {others[0]}, "
            f"not by you ({arn})",
            "pick another name in lab.toml (name = ...), or ask its creator to run 'vpclab down'",
        )

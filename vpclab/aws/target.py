"""What `Lab` asks of the aws account: whose it is, and what the lab's resources that exist
now would cost. (The preflight and confirmation before `up` are the aws Site's.)"""

from __future__ import annotations

from vpclab import cost
from vpclab.aws.inventory import attached_volumes, read_state
from vpclab.aws.session import Cloud
from vpclab.cost import CostEstimate
from vpclab.spec import LabSpec


def account(cloud: Cloud, region: str) -> str:
    """Who and where: shown before any change on the aws target."""
    ident = cloud.client("sts").get_caller_identity()
    return f"account {ident['Account']} in {region}"


def cost_now(cloud: Cloud, spec: LabSpec) -> CostEstimate:
    """What the lab's resources that exist now would cost on AWS, an hour and a month."""
    state = read_state(cloud, spec.name, spec.az)
    return cost.from_state(state, attached_volumes(cloud, state), spec.region)

"""What `Lab` does only on the aws target: say whose account it is, run the preflight and
the confirmation before `up`, and price what exists now."""

from __future__ import annotations

from collections.abc import Callable

from vpclab import cost
from vpclab.aws import guard
from vpclab.aws.inventory import attached_volumes, read_state
from vpclab.aws.session import Cloud
from vpclab.cost import CostEstimate
from vpclab.spec import LabSpec


def account(cloud: Cloud, region: str) -> str:
    """Who and where: shown before any change on the aws target."""
    ident = cloud.client("sts").get_caller_identity()
    return f"account {ident['Account']} in {region}"


def before_up(
    cloud: Cloud,
    spec: LabSpec,
    steps: list[str],
    *,
    say: Callable[[str], None],
    yes: bool,
    allow_world_admin: bool,
    ask: Callable[[str], bool] | None,
) -> None:
    """Preflight against what exists now, then the confirmation (see `guard.before_up`)."""
    state = read_state(cloud, spec.name, spec.az)
    guard.before_up(
        cloud,
        spec,
        state,
        steps,
        say=say,
        yes=yes,
        allow_world_admin=allow_world_admin,
        ask=ask,
    )


def cost_now(cloud: Cloud, spec: LabSpec) -> CostEstimate:
    """What the lab's resources that exist now would cost on AWS, an hour and a month."""
    state = read_state(cloud, spec.name, spec.az)
    return cost.from_state(state, attached_volumes(cloud, state), spec.region)

"""Before the first change on AWS: preflight, then who and where, what will be created and
what it costs, then a confirmation. `--yes` (Lab.up(yes=True)) skips the question; a run
that cannot ask (no terminal) and has no `--yes` refuses."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

from vpclab.aws import preflight
from vpclab.aws.inventory import LabState
from vpclab.aws.session import Cloud
from vpclab.cost import estimate
from vpclab.errors import VpclabError
from vpclab.spec import LabSpec

Ask = Callable[[str], bool]


class NotConfirmed(VpclabError):
    """The operator did not confirm: nothing was created."""


def ask_terminal(question: str) -> bool:
    """Ask on the terminal; only a clear yes goes on."""
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def to_create(spec: LabSpec, state: LabState, steps: list[str]) -> list[str]:
    """What `up` will create, by step, given what the lab already has."""
    items: list[str] = []
    if "vpc" in steps:
        items += [] if state.vpc else [f"VPC {spec.cidr}"]
        items += [f"{r} subnet" for r in ("public", "private") if r not in state.subnets]
    if "nat" in steps:
        items += [] if state.igw else ["Internet Gateway"]
        if spec.enable_nat_gateway and not state.nat:
            items.append("NAT gateway with an Elastic IP")
        items += [f"{r} route table" for r in ("public", "private") if r not in state.route_tables]
    roles = (["jenkins"] if "jenkins" in steps else []) + (
        ["web", "app", "monitoring"] if "instances" in steps else []
    )
    for role in roles:
        if role not in state.instances:
            items.append(f"{role} server ({spec.instance(role).instance_type})")
        if role not in state.security_groups:
            items.append(f"{role} security group")
        if role not in state.key_pairs:
            items.append(f"{role} key pair")
    if "jenkins" in steps and not state.peering:
        items.append("VPC peering with the default VPC")
    return items


@dataclass(frozen=True)
class Approved:
    found: preflight.Found
    created: list[str]


def before_up(
    cloud: Cloud,
    spec: LabSpec,
    state: LabState,
    steps: list[str],
    *,
    say: Callable[[str], None],
    yes: bool = False,
    allow_world_admin: bool = False,
    ask: Ask | None = None,
    can_ask: Callable[[], bool] = interactive,
) -> Approved:
    """Preflight, show, confirm. Raises (one line, nothing created) when anything is off."""
    found = preflight.run(cloud, spec, state, steps, allow_world_admin)
    created = to_create(spec, state, steps)
    say(f"target aws: account {found.account} in {found.region}, as {found.arn}")
    for note in found.notes:
        say(f"note: {note}")
    if not created:
        say("nothing to create: the lab is there; checking and repairing only")
        return Approved(found, created)
    say(f"will create: {', '.join(created)}")
    cost = estimate(spec, steps)
    say(f"while it runs: {cost.summary()}")
    for line in cost.to_text():
        say(line)
    say(f"admin ports (SSH, Jenkins, Grafana) open to {spec.admin_cidr}")
    say("stop the bill with 'vpclab down --target aws'")
    if yes:
        return Approved(found, created)
    if ask is None:
        if not can_ask():
            raise NotConfirmed(
                "target aws creates billed resources and needs a confirmation, but this run "
                "cannot ask (no terminal)",
                "add --yes to confirm (Lab.up(yes=True) from Python)",
            )
        ask = ask_terminal
    if not ask(f"create these in account {found.account} ({found.region})?"):
        raise NotConfirmed("not confirmed: nothing was created", "run again and answer y")
    return Approved(found, created)

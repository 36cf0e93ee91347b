"""The lab's steps, in order. Each step module has an idempotent `apply(ctx)`."""

from __future__ import annotations

from types import ModuleType

from vpclab.steps import instances, jenkins, keys, nat, nginx, scripts, vpc

# Steps whose apply is built. Later steps (pipeline, monitoring) are still to come.
BUILT: dict[str, ModuleType] = {
    "vpc": vpc,
    "nat": nat,
    "jenkins": jenkins,
    "instances": instances,
    "keys": keys,
    "nginx": nginx,
    "scripts": scripts,
}


def steps_through(through: str | None, enabled: list[str]) -> list[str]:
    """The built, enabled steps in order, up to and including `through`."""
    from vpclab.spec import STEPS, check_step_name

    last = check_step_name(through) if through else None
    chosen = []
    for step in STEPS:
        if step in enabled and step in BUILT:
            chosen.append(step)
        if step == last:
            break
    return chosen

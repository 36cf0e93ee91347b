"""The lab's steps, in order. Each step module has an idempotent `apply(ctx)`."""

from __future__ import annotations

from types import ModuleType

from vpclab.errors import NotBuiltError
from vpclab.steps import (
    instances,
    jenkins,
    keys,
    monitoring,
    nat,
    nginx,
    pipeline,
    scripts,
    vpc,
)

# Steps whose apply is built.
BUILT: dict[str, ModuleType] = {
    "vpc": vpc,
    "nat": nat,
    "jenkins": jenkins,
    "instances": instances,
    "keys": keys,
    "nginx": nginx,
    "scripts": scripts,
    "pipeline": pipeline,
    "monitoring": monitoring,
}


def require_built(step: str) -> str:
    """`step` itself, if it is a step the library builds; else a one-line error (exit 2)."""
    from vpclab.spec import check_step_name

    if check_step_name(step) not in BUILT:
        raise NotBuiltError(
            f"step {step!r} is not built yet", f"the built steps are {', '.join(BUILT)}"
        )
    return step


def steps_through(through: str | None, enabled: list[str]) -> list[str]:
    """The built, enabled steps in order, up to and including `through`."""
    from vpclab.spec import STEPS

    last = require_built(through) if through else None
    chosen = []
    for step in STEPS:
        if step in enabled and step in BUILT:
            chosen.append(step)
        if step == last:
            break
    return chosen

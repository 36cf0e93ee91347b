"""The library's front door, used by the CLI, the notebooks and Jenkins:
spec -> steps -> (control plane, data plane) -> state -> checks -> report."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from vpclab import report
from vpclab.aws.inventory import read_state
from vpclab.aws.session import Cloud, connect
from vpclab.aws.teardown import plan
from vpclab.checklist import CheckResult, failed
from vpclab.checks import Facts, run_checks
from vpclab.errors import VpclabError
from vpclab.paths import keys_dir, local_dir
from vpclab.spec import LabSpec, check_step_name, load_spec
from vpclab.steps import BUILT, steps_through
from vpclab.steps.context import Context


class CheckpointFailed(AssertionError):
    """A notebook checkpoint with a FAIL: the message is the checklist."""


class Lab:
    def __init__(self, spec_path: str | Path = "lab.toml", target: str | None = None,
                 say: Callable[[str], None] = print) -> None:
        self.spec_path = Path(spec_path).resolve()
        self.spec: LabSpec = load_spec(self.spec_path)
        self.target = target or os.environ.get("VPCLAB_TARGET") or self.spec.target
        if self.target not in ("local", "aws"):
            raise VpclabError(f"unknown target {self.target!r}", "use local or aws")
        self.say = say

    @cached_property
    def cloud(self) -> Cloud:
        return connect(self.target, self.spec.region, self.local_dir)

    @property
    def local_dir(self) -> Path:
        return local_dir(self.spec_path)

    @property
    def keys_dir(self) -> Path:
        return keys_dir(self.spec.name, self.spec_path)

    def context(self) -> Context:
        return Context(self.spec, self.cloud, self.spec_path, self.say)

    def built_steps(self, through: str | None = None) -> list[str]:
        return steps_through(through, self.spec.steps)

    def account(self) -> str:
        """Who and where: shown before any change on the aws target."""
        ident = self.cloud.client("sts").get_caller_identity()
        return f"account {ident['Account']} in {self.spec.region}"

    def up(self, through: str | None = None) -> list[str]:
        """Apply the steps in order, through `through`. Idempotent."""
        steps = self.built_steps(through)
        ctx = self.context()
        for step in steps:
            self.say(f"== {step}")
            BUILT[step].apply(ctx)
        return steps

    def verify(self, step: str | None = None, through: str | None = None) -> list[CheckResult]:
        steps = [check_step_name(step)] if step else self.built_steps(through)
        return run_checks(Facts(self.spec, self.cloud, self.spec_path), steps)

    def checkpoint(self, step: str) -> None:
        """A notebook's last cell: print the step's checklist; raise if anything FAILs."""
        results = self.verify(step=step)
        text = report.to_text(results)
        if failed(results):
            raise CheckpointFailed(f"checkpoint {step} failed:\n{text}")
        print(text)

    def status(self) -> dict:
        state = read_state(self.cloud, self.spec.name, self.spec.az)
        return {
            "lab": self.spec.name,
            "target": self.target,
            "region": self.spec.region,
            "vpc": state.vpc["VpcId"] if state.vpc else None,
            "subnets": {role: s["SubnetId"] for role, s in sorted(state.subnets.items())},
            "nat_gateway": state.nat["NatGatewayId"] if state.nat else None,
            "peering": state.peering["VpcPeeringConnectionId"] if state.peering else None,
            "instances": {
                role: {"id": i["InstanceId"], "state": i["State"]["Name"],
                       "type": i["InstanceType"], "private_ip": i.get("PrivateIpAddress"),
                       "public_ip": i.get("PublicIpAddress")}
                for role, i in sorted(state.instances.items())},
            "web_url": None,
        }

    def down(self, dry_run: bool = False) -> list[str]:
        state = read_state(self.cloud, self.spec.name, self.spec.az)
        actions = plan(self.cloud, state, self.keys_dir)
        for action in actions:
            self.say(("would " if dry_run else "") + action.description)
            if not dry_run:
                action.run()
        return [a.description for a in actions]

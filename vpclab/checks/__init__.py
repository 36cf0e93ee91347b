"""The checklist: checks with stable ids, grouped by step, each reading real state."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from vpclab.aws.inventory import LabState, read_state
from vpclab.aws.session import Cloud
from vpclab.checklist import CheckResult, Status
from vpclab.site import Site
from vpclab.spec import STEPS, LabSpec


@dataclass
class Facts:
    """What checks look at: the spec, the control plane's state, and a client for extra reads."""

    spec: LabSpec
    cloud: Cloud
    spec_path: Path

    @cached_property
    def state(self) -> LabState:
        return read_state(self.cloud, self.spec.name, self.spec.az)

    @property
    def site(self) -> Site:
        """What the target does its own way (chosen once, with the control plane)."""
        return self.cloud.site


@dataclass(frozen=True)
class Outcome:
    status: Status
    detail: str
    hint: str | None = None


def ok(detail: str) -> Outcome:
    return Outcome(Status.PASS, detail)


def fail(detail: str, hint: str | None = None) -> Outcome:
    return Outcome(Status.FAIL, detail, hint)


def skip(reason: str) -> Outcome:
    return Outcome(Status.SKIP, reason)


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    hint: str
    run: Callable[[Facts], Outcome]

    @property
    def step(self) -> str:
        return self.id.split(".", 1)[0]

    def result(self, facts: Facts) -> CheckResult:
        outcome = self.run(facts)
        hint = (outcome.hint or self.hint) if outcome.status is Status.FAIL else ""
        return CheckResult(self.id, self.step, self.title, outcome.status, outcome.detail, hint)


def inside_build() -> str | None:
    """'pipeline build #N' when the checklist runs in a pipeline build's Verify stage (Jenkins
    sets BUILD_NUMBER and WORKSPACE; so does `vpclab pipeline run`), else None."""
    if os.environ.get("BUILD_NUMBER") and os.environ.get("WORKSPACE"):
        return f"pipeline build #{os.environ['BUILD_NUMBER']}"
    return None


REGISTRY: list[Check] = []


def check(check_id: str, title: str, hint: str) -> Callable:
    def register(func: Callable[[Facts], Outcome]) -> Callable[[Facts], Outcome]:
        REGISTRY.append(Check(check_id, title, hint, func))
        return func

    return register


# One module a step (user data spans two); importing them registers their checks. Within a
# step, checks keep this module order whatever order the modules were first imported in.
CHECK_MODULES = (
    "vpc",
    "nat",
    "jenkins",
    "instances",
    "userdata",
    "keys",
    "nginx",
    "scripts",
    "pipeline",
    "monitoring",
)


def _rank(c: Check) -> tuple[int, int]:
    return STEPS.index(c.step), CHECK_MODULES.index(c.run.__module__.rsplit(".", 1)[-1])


def _registered() -> list[Check]:
    for name in CHECK_MODULES:
        importlib.import_module(f"vpclab.checks.{name}")
    return sorted(REGISTRY, key=_rank)  # stable: registration order within a module


def run_checks(facts: Facts, steps: list[str]) -> list[CheckResult]:
    return [c.result(facts) for c in _registered() if c.step in steps]


def step_check_ids(step: str) -> list[str]:
    """Every check id of `step` that `Lab.verify` reports, control-plane then live ones,
    whatever the lab's state (what a step's points are out of)."""
    from vpclab.checks import live  # it imports the probers, which need this package

    return [c.id for c in _registered() if c.step == step] + [
        c.id for c in live.CHECKS if c.step == step
    ]

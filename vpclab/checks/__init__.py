"""The checklist: checks with stable ids, grouped by step, each reading real state."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection
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
    """One line of the checklist. It reads the control plane (`run`, with the facts), or it
    makes a real connection (`probe`, with the lab's one prober: `checks.live`)."""

    id: str
    title: str
    hint: str
    run: Callable[[Facts], Outcome] | None = None
    probe: Callable | None = None  # checks.live.Probe

    @property
    def step(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def module(self) -> str:
        """The checks module that defines it (vpc, nat, ..., live)."""
        return (self.run or self.probe).__module__.rsplit(".", 1)[-1]

    def result(self, facts: Facts) -> CheckResult:
        assert self.run is not None, f"{self.id} is probed, not read (checks.live)"
        outcome = self.run(facts)
        hint = (outcome.hint or self.hint) if outcome.status is Status.FAIL else ""
        return CheckResult(self.id, self.step, self.title, outcome.status, outcome.detail, hint)


REGISTRY: list[Check] = []  # the one registry: every check, read or probed


def check(check_id: str, title: str, hint: str) -> Callable:
    def register(func: Callable[[Facts], Outcome]) -> Callable[[Facts], Outcome]:
        REGISTRY.append(Check(check_id, title, hint, run=func))
        return func

    return register


# One module a step (user data spans two), then the live probes of every step; importing them
# registers their checks. Within a step, checks keep this module order whatever order the
# modules were first imported in: control-plane reads first, then real connections.
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
    "live",
)


def _rank(c: Check) -> tuple[int, int]:
    return STEPS.index(c.step), CHECK_MODULES.index(c.module)


def registered() -> list[Check]:
    """Every check, in checklist order."""
    for name in CHECK_MODULES:
        importlib.import_module(f"vpclab.checks.{name}")
    return sorted(REGISTRY, key=_rank)  # stable: registration order within a module


def run_checks(
    facts: Facts, steps: list[str], only: Collection[str] | None = None
) -> list[CheckResult]:
    """The control-plane reads of the given steps (`checks.live` probes the rest); with
    `only`, just the checks of those ids."""
    return [c.result(facts) for c in registered() if c.step in steps and c.run and wanted(c, only)]


def wanted(c: Check, only: Collection[str] | None) -> bool:
    return only is None or c.id in only


def step_check_ids(step: str) -> list[str]:
    """Every check id of `step` that `Lab.verify` reports, control-plane then live ones,
    whatever the lab's state (what a step's points are out of)."""
    return [c.id for c in registered() if c.step == step]

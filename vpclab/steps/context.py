"""What every step gets: the spec, the control plane, the state folder, and a progress line."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from vpclab.aws import retry, tags
from vpclab.aws.inventory import LabState, read_state
from vpclab.aws.owner import CREATOR
from vpclab.aws.retry import Pacing
from vpclab.aws.session import Cloud
from vpclab.paths import keys_dir
from vpclab.site import Site
from vpclab.spec import LabSpec

T = TypeVar("T")


def first(items: Iterable[T]) -> T | None:
    """The first item, or None for an empty answer (a wait then counts it as not yet)."""
    return next(iter(items), None)


@dataclass
class Context:
    spec: LabSpec
    cloud: Cloud
    spec_path: Path
    say: Callable[[str], None] = lambda _line: None
    pacing: Pacing = field(default_factory=Pacing)
    creator: str | None = None  # the caller's ARN on target aws, tagged on what we create
    cache: dict = field(default_factory=dict)  # per-run answers, e.g. the AMI and its disk

    @property
    def ec2(self):
        return self.cloud.ec2

    @property
    def site(self) -> Site:
        """What the target does its own way (chosen once, with the control plane)."""
        return self.cloud.site

    @property
    def keys_dir(self) -> Path:
        return keys_dir(self.spec.name, self.spec_path)

    def state(self) -> LabState:
        return read_state(self.cloud, self.spec.name, self.spec.az)

    @property
    def extra_tags(self) -> dict[str, str]:
        return {**self.spec.tags, **({CREATOR: self.creator} if self.creator else {})}

    def tag_spec(self, resource_type: str, role: str, name: str | None = None) -> list[dict]:
        name = name or f"{self.spec.name}-{role}"
        return tags.tag_spec(resource_type, self.spec.name, role, name, self.extra_tags)

    def token(self, role: str, *parts: str) -> str:
        """An idempotency token from the lab, the role and where the resource goes: a rerun
        after a crash sends the same one, so AWS returns the first resource, not a second."""
        text = "|".join((self.spec.name, role, *parts))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def settle(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Call `fn`, retrying NotFound briefly: right after a create, AWS may not know the
        new resource yet in another call."""
        return retry.call(
            lambda: fn(*args, **kwargs),
            when=retry.not_found,
            what=f"{getattr(fn, '__name__', 'the call')} to see a new resource",
            budget=self.pacing.settle_budget,
            pacing=self.pacing,
            say=self.say,
        )

    def wait_for(
        self, read: Callable[[], T | None], done: Callable[[T], bool], what: str, hint: str = ""
    ) -> T:
        """Poll until `done` (NotFound counts as not yet), bounded by the pacing."""
        return retry.poll(
            read,
            done,
            what=what,
            budget=self.pacing.state_budget,
            pacing=self.pacing,
            say=self.say,
            hint=hint or "run 'vpclab up' again to continue",
        )

    def tag(self, resource_id: str, role: str, name: str | None = None) -> None:
        """Tag after creation, for calls that take no TagSpecifications."""
        name = name or f"{self.spec.name}-{role}"
        self.ec2.create_tags(
            Resources=[resource_id], Tags=tags.tag_list(self.spec.name, role, name, self.extra_tags)
        )

"""What every step gets: the spec, the control plane, the state folder, and a progress line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vpclab.aws import tags
from vpclab.aws.inventory import LabState, read_state
from vpclab.aws.session import Cloud
from vpclab.paths import keys_dir
from vpclab.spec import LabSpec


@dataclass
class Context:
    spec: LabSpec
    cloud: Cloud
    spec_path: Path
    say: Callable[[str], None] = lambda _line: None

    @property
    def ec2(self):
        return self.cloud.ec2

    @property
    def keys_dir(self) -> Path:
        return keys_dir(self.spec.name, self.spec_path)

    def state(self) -> LabState:
        return read_state(self.cloud, self.spec.name, self.spec.az)

    def tag_spec(self, resource_type: str, role: str, name: str | None = None) -> list[dict]:
        name = name or f"{self.spec.name}-{role}"
        return tags.tag_spec(resource_type, self.spec.name, role, name, self.spec.tags)

    def tag(self, resource_id: str, role: str, name: str | None = None) -> None:
        """Tag after creation, for calls that take no TagSpecifications."""
        name = name or f"{self.spec.name}-{role}"
        self.ec2.create_tags(
            Resources=[resource_id], Tags=tags.tag_list(self.spec.name, role, name, self.spec.tags)
        )

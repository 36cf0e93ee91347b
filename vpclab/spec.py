"""The lab spec (`lab.toml`): a validated model. A bad spec is one line naming the field,
raised before any API call."""

from __future__ import annotations

import ipaddress
import re
import tomllib
from difflib import get_close_matches
from enum import StrEnum
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from vpclab.aws.limits import UBUNTU_AMI_PARAMETER
from vpclab.errors import SpecError

STEPS = ("vpc", "nat", "jenkins", "instances", "keys", "nginx", "scripts", "pipeline", "monitoring")
ROLES = ("jenkins", "web", "app", "monitoring")


class Target(StrEnum):
    """Where the lab runs: `local` (moto + namespaces, the default) or `aws` (explicit only)."""

    local = "local"
    aws = "aws"


ADMIN_AUTO = "auto"
# AWS's default VPC, where Jenkins lives: the lab must not overlap it, or peering breaks.
DEFAULT_VPC_CIDR = ipaddress.ip_network("172.31.0.0/16")


def _network(value: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid IPv4 CIDR ({exc})") from None
    if net.version != 4:
        raise ValueError(f"{value!r} is not an IPv4 CIDR")
    return net


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ports(Strict):
    ssh: int = 22
    http: int = 80
    https: int = 443
    app: int = 5000
    prometheus: int = 9090
    grafana: int = 3000
    node_exporter: int = 9100
    alertmanager: int = 9093
    nginx_exporter: int = 9113

    @field_validator("*")
    @classmethod
    def _in_range(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            raise ValueError(f"port {value} is out of range 1-65535")
        return value


DURATION = re.compile(r"[1-9][0-9]*(ms|s|m|h)")


class Monitoring(Strict):
    """The monitoring step's knobs. Tests shorten the intervals and the alerts' `for:`."""

    scrape_interval: str = "15s"
    evaluation_interval: str = "15s"
    rate_window: str = "1m"  # the window of every rate() in the rules and panels
    instance_down_for: str = "1m"
    error_ratio_for: str = "5m"
    latency_for: str = "5m"
    error_ratio_threshold: float = Field(0.05, gt=0, lt=1)
    latency_p95_seconds: float = Field(0.5, gt=0)

    @field_validator(
        "scrape_interval",
        "evaluation_interval",
        "rate_window",
        "instance_down_for",
        "error_ratio_for",
        "latency_for",
    )
    @classmethod
    def _duration(cls, value: str) -> str:
        if not DURATION.fullmatch(value):
            raise ValueError(f"{value!r} is not a Prometheus duration like '30s' or '5m'")
        return value


class Instance(Strict):
    instance_type: str = "t3.micro"
    key_name: str = ""

    @field_validator("instance_type")
    @classmethod
    def _type_shape(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9-]*\.[a-z0-9]+", value):
            raise ValueError(f"{value!r} is not an instance type like 't3.micro'")
        return value


class LabSpec(Strict):
    name: str
    region: str = "us-east-1"
    target: Target = Target.local
    admin_cidr: str = "198.51.100.0/24"
    cidr: str = "10.0.0.0/16"
    azs: list[str] = Field(default_factory=list)
    public_subnets: list[str] = Field(default_factory=lambda: ["10.0.1.0/24"])
    private_subnets: list[str] = Field(default_factory=lambda: ["10.0.2.0/24"])
    enable_dns_hostnames: bool = True
    enable_dns_support: bool = True
    map_public_ip_on_launch: bool = True
    enable_nat_gateway: bool = True
    ami_ssm_parameter: str = UBUNTU_AMI_PARAMETER
    ami_id: str = ""
    steps: list[str] = Field(default_factory=lambda: list(STEPS))
    ports: Ports = Field(default_factory=Ports)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    instances: dict[str, Instance] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,19}", value):
            raise ValueError(
                f"{value!r} must be 1-20 lowercase letters, digits or '-', starting with a letter"
            )
        return value

    @field_validator("region")
    @classmethod
    def _region_shape(cls, value: str) -> str:
        if not value.strip():
            raise ValueError('region is empty; set it, e.g. region = "us-east-1"')
        if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", value):
            raise ValueError(f"{value!r} is not an AWS region like 'us-east-1'")
        return value

    @field_validator("cidr", "admin_cidr")
    @classmethod
    def _cidr(cls, value: str, info: ValidationInfo) -> str:
        if info.field_name == "admin_cidr" and value == ADMIN_AUTO:
            return value  # the operator's public address, found at `up` time on target aws
        _network(value)
        return value

    @field_validator("public_subnets", "private_subnets")
    @classmethod
    def _subnets(cls, value: list[str]) -> list[str]:
        if len(value) != 1:
            raise ValueError('exactly one subnet is expected, e.g. ["10.0.1.0/24"]')
        for item in value:
            _network(item)
        return value

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: list[str]) -> list[str]:
        for step in value:
            if step not in STEPS:
                raise ValueError(unknown_step(step).line())
        return value

    @field_validator("instances")
    @classmethod
    def _roles(cls, value: dict[str, Instance]) -> dict[str, Instance]:
        for role in value:
            if role not in ROLES:
                raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        return value

    @model_validator(mode="after")
    def _network_layout(self) -> LabSpec:
        vpc = _network(self.cidr)
        if vpc.overlaps(DEFAULT_VPC_CIDR):
            raise ValueError(
                f"cidr: {self.cidr} overlaps the default VPC {DEFAULT_VPC_CIDR}, "
                "so the Jenkins peering would break; use e.g. 10.0.0.0/16"
            )
        subnets = [("public_subnets", s) for s in self.public_subnets]
        subnets += [("private_subnets", s) for s in self.private_subnets]
        for field, subnet in subnets:
            if not _network(subnet).subnet_of(vpc):
                raise ValueError(
                    f"{field}: {subnet} is outside the VPC cidr {self.cidr}; "
                    "pick a subnet inside it"
                )
        for i, (field_a, a) in enumerate(subnets):
            for field_b, b in subnets[i + 1 :]:
                if _network(a).overlaps(_network(b)):
                    raise ValueError(
                        f"{field_b}: {b} overlaps {field_a} {a}; subnets must not overlap"
                    )
        for az in self.azs:
            if not az.startswith(self.region):
                raise ValueError(f"azs: {az!r} is not in region {self.region}")
        return self

    def instance(self, role: str) -> Instance:
        default_type = "t3.medium" if role == "jenkins" else "t3.micro"
        found = self.instances.get(role) or Instance(instance_type=default_type)
        return (
            found
            if found.key_name
            else found.model_copy(update={"key_name": f"{self.name}-{role}"})
        )

    @property
    def az(self) -> str:
        return self.azs[0] if self.azs else f"{self.region}a"


def unknown_step(step: str) -> SpecError:
    near = get_close_matches(step, STEPS, n=1)
    suggestion = f"did you mean {near[0]!r}?" if near else f"steps are {', '.join(STEPS)}"
    return SpecError(f"unknown step {step!r}", suggestion)


def parse_target(value: str | Target, source: str = "--target") -> Target:
    """The one place a target name is checked; `source` names where it came from."""
    try:
        return Target(value)
    except ValueError:
        raise SpecError(f"{source} {str(value)!r} is not a target", "use local or aws") from None


def check_step_name(step: str) -> str:
    if step not in STEPS:
        raise unknown_step(step)
    return step


def _field_name(loc: tuple) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        else:
            parts.append(str(item))
    return ".".join(parts)


def _one_line(source: str, exc: ValidationError) -> SpecError:
    err = exc.errors()[0]
    field = _field_name(err["loc"])
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        known = [
            *LabSpec.model_fields,
            *Ports.model_fields,
            *Instance.model_fields,
            *Monitoring.model_fields,
        ]
        near = get_close_matches(str(err["loc"][-1]), known, n=1)
        fix = f"did you mean {near[0]!r}?" if near else "remove it"
        return SpecError(f"{source}: unknown field {field!r}", fix)
    if err["type"] == "missing":
        return SpecError(f"{source}: field {field!r} is missing", f"add {field} = ... to the spec")
    where = f"field {field!r}: " if field and not message.startswith(f"{field}:") else ""
    return SpecError(f"{source}: {where}{message}")


def parse_spec(data: dict, source: str = "lab.toml") -> LabSpec:
    try:
        return LabSpec.model_validate(data)
    except ValidationError as exc:
        raise _one_line(source, exc) from None


def load_spec(path: Path) -> LabSpec:
    """Read and validate a spec file. Raises SpecError (one line) on any problem."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(
            f"spec file {str(path)!r} not found", "run from the project folder or pass --spec FILE"
        ) from None
    except OSError as exc:
        raise SpecError(f"cannot read spec file {str(path)!r}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path.name}: not valid TOML ({exc})", "fix the syntax") from None
    return parse_spec(data, path.name)

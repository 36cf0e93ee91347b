"""What the lab costs on AWS while it runs, from a dated on-demand price table
(`vpclab/data/prices-<region>.toml`). `estimate` prices what the spec would make (shown before
`up --target aws` asks to go on); `from_state` prices what exists now (`vpclab cost`, and
what `vpclab down` stops paying for)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from importlib import resources

from vpclab.aws.inventory import GONE_INSTANCE, LabState
from vpclab.aws.tags import role_of
from vpclab.errors import VpclabError
from vpclab.spec import ROLES, LabSpec

TABLE_REGION = "us-east-1"
# The root disk each server is launched with (steps/compute.py): encrypted gp3, 8 GB, the
# size of the Ubuntu image.
ROOT_VOLUME_GB = 8
ROOT_VOLUME_TYPE = "gp3"
# Which servers have a public IPv4 address (the app server is private).
PUBLIC_ROLES = ("jenkins", "web", "monitoring")
# The step that brings each billed resource.
STEP_OF_ROLE = {
    "jenkins": "jenkins",
    "web": "instances",
    "app": "instances",
    "monitoring": "instances",
}


@dataclass(frozen=True)
class PriceTable:
    as_of: str
    region: str
    currency: str
    hours_per_month: float
    sources: tuple[str, ...]
    instance_hour: dict[str, float]
    nat_hour: float
    nat_per_gb: float
    ipv4_hour: float
    ebs_gb_month: dict[str, float]


@dataclass(frozen=True)
class CostLine:
    resource: str  # e.g. "web server (t3.micro)"
    quantity: float
    unit: str  # "hour", "GB-month"
    unit_price: float
    hourly: float
    monthly: float


@dataclass(frozen=True)
class CostEstimate:
    region: str
    currency: str
    as_of: str
    sources: tuple[str, ...]
    lines: tuple[CostLine, ...]
    notes: tuple[str, ...]
    basis: str = "spec"  # "spec": what the steps would make; "state": what exists now

    @property
    def hourly(self) -> float:
        return sum(line.hourly for line in self.lines)

    @property
    def monthly(self) -> float:
        return sum(line.monthly for line in self.lines)

    def summary(self) -> str:
        return (
            f"about {self.currency} {self.hourly:.3f} an hour, {self.monthly:.2f} a month "
            f"(on-demand prices of {self.as_of})"
        )

    def to_text(self) -> list[str]:
        rows = [(line.resource, line.hourly, line.monthly) for line in self.lines]
        rows.append(("total", self.hourly, self.monthly))
        money = self.currency
        lines = [f"  {name:<40} {money} {h:>7.4f}/h {m:>8.2f}/month" for name, h, m in rows]
        return lines + [f"  note: {note}" for note in self.notes]

    def to_dict(self) -> dict:
        """`vpclab cost --json`: the table, its totals and where the prices come from."""
        return {
            "basis": self.basis,
            "region": self.region,
            "currency": self.currency,
            "prices_as_of": self.as_of,
            "sources": list(self.sources),
            "lines": [asdict(line) for line in self.lines],
            "hourly": self.hourly,
            "monthly": self.monthly,
            "notes": list(self.notes),
        }


def load_prices(region: str = TABLE_REGION) -> PriceTable:
    """The dated price table; other regions fall back to us-east-1's (see the notes)."""
    name = f"prices-{region}.toml"
    folder = resources.files("vpclab") / "data"
    if not (folder / name).is_file():
        name = f"prices-{TABLE_REGION}.toml"
    data = tomllib.loads((folder / name).read_text())
    return PriceTable(
        as_of=data["as_of"],
        region=data["region"],
        currency=data["currency"],
        hours_per_month=float(data["hours_per_month"]),
        sources=tuple(data["sources"]),
        instance_hour=dict(data["instance_hour"]),
        nat_hour=data["nat_gateway"]["hour"],
        nat_per_gb=data["nat_gateway"]["per_gb_processed"],
        ipv4_hour=data["public_ipv4"]["hour"],
        ebs_gb_month=dict(data["ebs_gb_month"]),
    )


def estimate(
    spec: LabSpec, steps: Iterable[str] | None = None, prices: PriceTable | None = None
) -> CostEstimate:
    """Hourly and monthly cost of the billed resources the given steps make (all steps by
    default), one line each. Free parts (VPC, subnets, routes, SGs, peering) are left out."""
    prices = prices or load_prices(spec.region)
    chosen = set(steps if steps is not None else spec.steps)
    hours = prices.hours_per_month
    lines: list[CostLine] = []

    def hourly(resource: str, count: int, price: float) -> None:
        lines.append(CostLine(resource, count, "hour", price, count * price, count * price * hours))

    if "nat" in chosen and spec.enable_nat_gateway:
        hourly("NAT gateway", 1, prices.nat_hour)
        hourly("NAT gateway's Elastic IP (public IPv4)", 1, prices.ipv4_hour)
    roles = [r for r in ROLES if STEP_OF_ROLE[r] in chosen]
    for role in roles:
        itype = spec.instance(role).instance_type
        if itype not in prices.instance_hour:
            raise VpclabError(
                f"no price for instance type {itype!r} in the price table of {prices.as_of}",
                f"use one of {', '.join(sorted(prices.instance_hour))}, or add it to "
                f"vpclab/data/prices-{prices.region}.toml",
            )
        hourly(f"{role} server ({itype})", 1, prices.instance_hour[itype])
    public = [r for r in roles if r in PUBLIC_ROLES]
    if public:
        hourly(f"public IPv4 of {', '.join(public)}", len(public), prices.ipv4_hour)
    if roles:
        gb = ROOT_VOLUME_GB * len(roles)
        per_gb = prices.ebs_gb_month[ROOT_VOLUME_TYPE]
        monthly = gb * per_gb
        lines.append(
            CostLine(
                f"{len(roles)} root disks ({gb} GB {ROOT_VOLUME_TYPE})",
                gb,
                "GB-month",
                per_gb,
                monthly / hours,
                monthly,
            )
        )
    notes = []
    if "nat" in chosen and spec.enable_nat_gateway:
        notes.append(f"data through the NAT adds {prices.currency} {prices.nat_per_gb}/GB")
    if spec.region != prices.region:
        notes.append(f"prices of {prices.region}; {spec.region} may differ")
    return CostEstimate(
        region=spec.region,
        currency=prices.currency,
        as_of=prices.as_of,
        sources=prices.sources,
        lines=tuple(lines),
        notes=tuple(notes),
    )


# Billed while they exist: an instance that is stopped keeps its disk and addresses only.
BILLED_INSTANCE = ("pending", "running")
BILLED_NAT = ("pending", "available")


def _ebs_lines(volumes: Iterable[dict], prices: PriceTable, unpriced: list[str]) -> list[CostLine]:
    by_type: dict[str, list[int]] = {}
    for volume in volumes:
        by_type.setdefault(volume.get("VolumeType", "gp2"), []).append(int(volume["Size"]))
    lines = []
    for vtype, sizes in sorted(by_type.items()):
        if vtype not in prices.ebs_gb_month:
            unpriced.append(f"{len(sizes)} {vtype} volumes")
            continue
        gb = sum(sizes)
        monthly = gb * prices.ebs_gb_month[vtype]
        lines.append(
            CostLine(
                f"{len(sizes)} root {'disk' if len(sizes) == 1 else 'disks'} ({gb} GB {vtype})",
                gb,
                "GB-month",
                prices.ebs_gb_month[vtype],
                monthly / prices.hours_per_month,
                monthly,
            )
        )
    return lines


def from_state(
    state: LabState, volumes: Iterable[dict], region: str, prices: PriceTable | None = None
) -> CostEstimate:
    """What the lab's resources that exist now cost, one line each: servers by role and
    type, NAT gateways, public IPv4 addresses (servers' and Elastic IPs), EBS volumes.
    Never raises on a price the table lacks (teardown reports through this): such a
    resource is named in a note and left out of the total."""
    prices = prices or load_prices(region)
    hours = prices.hours_per_month
    tagged = state.tagged
    lines: list[CostLine] = []
    unpriced: list[str] = []

    def hourly(resource: str, count: int, price: float) -> None:
        lines.append(CostLine(resource, count, "hour", price, count * price, count * price * hours))

    nats = [n for n in tagged.nats if n["State"] in BILLED_NAT]
    if nats:
        name = "NAT gateway" if len(nats) == 1 else f"{len(nats)} NAT gateways"
        hourly(name, len(nats), prices.nat_hour)
    eips = len(tagged.eips)
    if eips:
        name = "Elastic IP (public IPv4)" if eips == 1 else f"{eips} Elastic IPs (public IPv4)"
        hourly(name, eips, prices.ipv4_hour)
    order = {role: i for i, role in enumerate(ROLES)}
    instances = sorted(
        (i for i in tagged.instances if i["State"]["Name"] not in GONE_INSTANCE),
        key=lambda i: (order.get(role_of(i) or "", len(order)), i["InstanceId"]),
    )
    for inst in instances:
        if inst["State"]["Name"] not in BILLED_INSTANCE:
            continue
        itype = inst["InstanceType"]
        name = f"{role_of(inst) or 'untagged'} server ({itype})"
        if itype not in prices.instance_hour:
            unpriced.append(name)
            continue
        hourly(name, 1, prices.instance_hour[itype])
    public = [role_of(i) or "untagged" for i in instances if i.get("PublicIpAddress")]
    if public:
        hourly(f"public IPv4 of {', '.join(public)}", len(public), prices.ipv4_hour)
    lines += _ebs_lines(volumes, prices, unpriced)
    notes = []
    if nats:
        notes.append(f"data through the NAT adds {prices.currency} {prices.nat_per_gb}/GB")
    if unpriced:
        notes.append(
            f"not in the price table of {prices.as_of}, so not in the total: " + ", ".join(unpriced)
        )
    if region != prices.region:
        notes.append(f"prices of {prices.region}; {region} may differ")
    return CostEstimate(
        region=region,
        currency=prices.currency,
        as_of=prices.as_of,
        sources=prices.sources,
        lines=tuple(lines),
        notes=tuple(notes),
        basis="state",
    )

"""Re-running notebooks 01 to 04 is safe: each create cell finds the lab's resource by its
tags first, so a second run (a fresh kernel, as after a restart) and a run on a lab the
library already built (`make lab`, `lab.catch_up`) create nothing, say what they found, and
the checkpoints still pass. AWS (and moto) would otherwise make a second VPC, NAT, server...

The reference notebooks run as they are, each in a fresh kernel (`vpclab.course.kernel`, the
refresh's and the grader's runner), against a throwaway moto server of their own (`Sandbox`,
as the nbval run and the refresh get), from a copy of their folder beside the spec.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from vpclab.course import kernel, kit
from vpclab.lab import Lab
from vpclab.localcloud.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
STEPS = ("01_vpc", "02_nat", "03_jenkins", "04_instances")
CELL_TIMEOUT = 120  # seconds, as the refresh allows


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """A copy of the notebooks' folder beside the spec, on a moto server of its own."""
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "lab.toml", tmp_path / "lab.toml")
    for stem in STEPS:
        shutil.copy(ROOT / "notebooks" / f"{stem}.ipynb", tmp_path / "notebooks")
    with Sandbox():
        yield tmp_path


def _run_all(folder: Path, stems: tuple[str, ...] = STEPS) -> str:
    """Run the notebooks (01 to 04) in order, each in a fresh kernel (a failing checkpoint
    raises); what the create cells printed, the checkpoints' lines left out."""
    printed = []
    for stem in stems:
        nb = nbformat.read(folder / "notebooks" / f"{stem}.ipynb", as_version=4)
        kernel.execute(nb, folder / "notebooks", CELL_TIMEOUT)
        for cell in nb.cells:
            if cell.cell_type == "code" and "checkpoint" not in cell.metadata.get("tags", []):
                printed += [o.get("text", "") for o in cell.get("outputs", [])]
    return "".join(printed)


def _said(printed: str, verb: str) -> list[str]:
    return [line for line in printed.splitlines() if line.startswith(f"{verb} ")]


def _counts(lab: Lab) -> dict[str, int]:
    """How many of each resource the lab's tags find (live ones only)."""
    ec2 = lab.cloud.ec2
    mine = [{"Name": "tag:vpclab:lab", "Values": [lab.spec.name]}]
    nat_live = [*mine, {"Name": "state", "Values": ["pending", "available"]}]
    running = [*mine, {"Name": "instance-state-name", "Values": ["pending", "running"]}]
    instances = [
        i for r in ec2.describe_instances(Filters=running)["Reservations"] for i in r["Instances"]
    ]
    return {
        "vpc": len(ec2.describe_vpcs(Filters=mine)["Vpcs"]),
        "subnet": len(ec2.describe_subnets(Filters=mine)["Subnets"]),
        "igw": len(ec2.describe_internet_gateways(Filters=mine)["InternetGateways"]),
        "eip": len(ec2.describe_addresses(Filters=mine)["Addresses"]),
        "nat": len(ec2.describe_nat_gateways(Filter=nat_live)["NatGateways"]),
        "route table": len(ec2.describe_route_tables(Filters=mine)["RouteTables"]),
        "key pair": len(ec2.describe_key_pairs(Filters=mine)["KeyPairs"]),
        "security group": len(ec2.describe_security_groups(Filters=mine)["SecurityGroups"]),
        "peering": len(ec2.describe_vpc_peering_connections(Filters=mine)["VpcPeeringConnections"]),
        "instance": len(instances),
    }


# One of each, two subnets and route tables (public, private), four of what each server
# has (Jenkins, web, app, monitoring).
ONE_LAB = {
    "vpc": 1,
    "subnet": 2,
    "igw": 1,
    "eip": 1,
    "nat": 1,
    "route table": 2,
    "key pair": 4,
    "security group": 4,
    "peering": 1,
    "instance": 4,
}


def test_a_second_run_finds_everything_and_creates_nothing(folder):
    first = _run_all(folder)
    lab = Lab(folder / "lab.toml")
    assert _counts(lab) == ONE_LAB
    assert not _said(first, "found"), "a fresh lab has nothing to find"
    made = _said(first, "created")

    second = _run_all(folder)  # each checkpoint passed again, or this raised
    assert _counts(lab) == ONE_LAB, "a second run made a duplicate"
    assert not _said(second, "created"), second
    found = _said(second, "found")
    assert all(line.endswith("(already there)") for line in found)
    # Each line the first run said "created" for, the second says "found" for.
    assert len(found) == len(made) >= sum(ONE_LAB.values()) - ONE_LAB["eip"]


def test_a_lab_built_by_the_library_is_found_not_duplicated(folder):
    lab = Lab(folder / "lab.toml")
    lab.up(through="instances", yes=True)
    assert _counts(lab) == ONE_LAB

    printed = _run_all(folder)
    assert _counts(lab) == ONE_LAB
    assert not _said(printed, "created"), printed
    assert len(_said(printed, "found")) >= sum(ONE_LAB.values()) - ONE_LAB["eip"]


def test_an_elastic_ip_left_by_a_run_stopped_half_way_is_used_not_a_second(folder):
    _run_all(folder, STEPS[:1])
    lab = Lab(folder / "lab.toml")
    left = lab.cloud.ec2.allocate_address(
        Domain="vpc", TagSpecifications=kit.tag_spec(lab, "elastic-ip", "nat")
    )
    _run_all(folder, STEPS[1:])
    assert _counts(lab) == ONE_LAB
    addresses = lab.cloud.ec2.describe_addresses(AllocationIds=[left["AllocationId"]])
    assert addresses["Addresses"][0].get("AssociationId"), "the NAT took another address"

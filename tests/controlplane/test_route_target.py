"""A route's target, as the checks and 02_nat's "look at the result" cell print it: the real
id for every kind of target (a peering's pcx-… included), never None."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import nbformat
import pytest

from vpclab.aws.inventory import ROUTE_TARGET_KEYS, route_target
from vpclab.course import kit

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("route", "target"),
    [
        ({"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local"}, "local"),
        ({"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-0a1"}, "nat-0a1"),
        ({"DestinationCidrBlock": "172.31.0.0/16", "VpcPeeringConnectionId": "pcx-1"}, "pcx-1"),
        ({"InstanceId": "i-1", "NetworkInterfaceId": "eni-1"}, "i-1"),
        ({"NetworkInterfaceId": "eni-2"}, "eni-2"),
        ({"TransitGatewayId": "tgw-1"}, "tgw-1"),
        ({"DestinationIpv6CidrBlock": "::/0", "EgressOnlyInternetGatewayId": "eigw-1"}, "eigw-1"),
        ({"GatewayId": "", "NatGatewayId": "nat-2"}, "nat-2"),
    ],
)
def test_route_target_names_each_kind_of_target(route, target):
    assert route_target(route) == target


def test_route_target_is_none_only_without_a_target_key():
    assert route_target({"DestinationCidrBlock": "0.0.0.0/0", "State": "blackhole"}) is None
    assert all(route_target({key: "x-1"}) == "x-1" for key in ROUTE_TARGET_KEYS)


def _look_cell() -> str:
    """02_nat's cell that prints both route tables (it calls route_target)."""
    nb = nbformat.read(ROOT / "notebooks" / "02_nat.ipynb", as_version=4)
    return next(c.source for c in nb.cells if "route_target(route)" in c.source)


def test_nat_notebook_prints_the_peering_route_target(lab):
    """After the jenkins step each lab table also routes the default VPC through the peering:
    the notebook's cell, run again then, prints that route's pcx-… id."""
    lab.up(through="jenkins")
    mine = [{"Name": "tag:vpclab:lab", "Values": [lab.spec.name]}]
    namespace = {
        "ec2": lab.cloud.ec2,
        "mine": mine,
        "live": [*mine, {"Name": "state", "Values": ["pending", "available"]}],  # as 02 sets it
        "route_target": route_target,
        "kit": kit,
    }
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(_look_cell(), namespace)  # the project's own notebook cell, as stored
    routes = [line.split() for line in printed.getvalue().splitlines() if "->" in line]
    assert len(routes) == 6, printed.getvalue()  # local, default and peering, in each table
    assert "None" not in printed.getvalue()
    peering = [r for r in routes if r[0] == "172.31.0.0/16"]
    assert len(peering) == 2 and all(re.fullmatch(r"pcx-[0-9a-f]+", r[2]) for r in peering)

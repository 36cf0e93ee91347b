"""`vpclab cost` prices what exists (read from the cloud, not the spec) from the dated price
table, and `vpclab down` says what it stopped paying for."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from tests.controlplane.conftest import run_cli
from vpclab.aws.inventory import LabState
from vpclab.aws.tags import LAB, ROLE
from vpclab.cost import estimate, from_state, load_prices

TABLE = Path(__file__).resolve().parents[2] / "vpclab" / "data" / "prices-us-east-1.toml"


def table_total(spec) -> tuple[float, dict]:
    """A full lab's hourly cost, worked out from the TOML table by hand: four servers of the
    spec's types, one NAT gateway, four public IPv4 addresses (three servers and the NAT's
    Elastic IP) and four 8 GB gp3 root disks."""
    table = tomllib.loads(TABLE.read_text())
    servers = sum(table["instance_hour"][s.instance_type] for s in spec.instances.values())
    disks = 4 * 8 * table["ebs_gb_month"]["gp3"] / table["hours_per_month"]
    total = servers + table["nat_gateway"]["hour"] + 4 * table["public_ipv4"]["hour"] + disks
    return total, table


def test_full_lab_table_total_matches_the_price_table(readonly_lab, monkeypatch, capsys):
    expected, table = table_total(readonly_lab.spec)
    spec = str(readonly_lab.spec_path)
    code, out, _ = run_cli(monkeypatch, capsys, "cost", "--spec", spec, "--json")
    data = json.loads(out)
    assert code == 0 and data["basis"] == "state" and data["prices_as_of"] == table["as_of"]
    assert data["hourly"] == pytest.approx(expected, abs=1e-9)
    assert sum(line["hourly"] for line in data["lines"]) == pytest.approx(data["hourly"])
    assert data["monthly"] == pytest.approx(expected * table["hours_per_month"], abs=1e-6)
    resources = [line["resource"] for line in data["lines"]]
    for role, server in readonly_lab.spec.instances.items():
        assert f"{role} server ({server.instance_type})" in resources
    assert "NAT gateway" in resources and "4 root disks (32 GB gp3)" in resources
    assert "public IPv4 of jenkins, web, monitoring" in resources
    # What exists is what the spec would make: the two ways of pricing agree.
    assert data["hourly"] == pytest.approx(estimate(readonly_lab.spec).hourly)

    code, out, _ = run_cli(monkeypatch, capsys, "cost", "--spec", spec)
    assert code == 0 and f"as of {table['as_of']}" in out
    total = next(line for line in out.splitlines() if line.strip().startswith("total"))
    assert f"{expected:.4f}/h" in total and f"{expected * table['hours_per_month']:.2f}" in total


def test_cost_follows_the_cloud_not_the_spec(lab):
    lab.up(through="nat")
    half = lab.cost()
    assert [line.resource for line in half.lines] == ["NAT gateway", "Elastic IP (public IPv4)"]
    lab.up()
    web = lab.status().instances["web"].id
    lab.cloud.ec2.terminate_instances(InstanceIds=[web])
    left = [line.resource for line in lab.cost().lines]
    assert "web server (t3.micro)" not in left and "app server (t3.micro)" in left
    assert "public IPv4 of jenkins, monitoring" in left and "3 root disks (24 GB gp3)" in left


def test_no_lab_costs_nothing_and_names_the_full_price(spec_path, monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "cost", "--spec", str(spec_path))
    assert code == 0 and "nothing of the lab exists" in out
    assert "a month (on-demand prices of" in out
    code, out, _ = run_cli(monkeypatch, capsys, "cost", "--spec", str(spec_path), "--json")
    assert json.loads(out)["lines"] == [] and json.loads(out)["hourly"] == 0


def test_down_says_what_it_stopped_paying_for(built_lab, monkeypatch, capsys):
    running = built_lab.cost()
    spec = str(built_lab.spec_path)
    code, _, err = run_cli(monkeypatch, capsys, "down", "--spec", spec, "--dry-run")
    assert code == 0 and f"would stop paying for {running.summary()}" in err
    code, _, err = run_cli(monkeypatch, capsys, "down", "--spec", spec)
    assert code == 0 and f"stopped paying for {running.summary()}" in err
    assert "NAT gateway" in err and "jenkins server (t3.medium)" in err
    assert built_lab.cost().lines == ()
    code, _, err = run_cli(monkeypatch, capsys, "down", "--spec", spec)
    assert code == 0 and "paying for" not in err  # nothing was left to stop


def test_an_unpriced_server_is_named_not_added():
    prices = load_prices()
    state = LabState("microblog")
    odd = {
        "InstanceId": "i-1",
        "InstanceType": "x9.huge",
        "State": {"Name": "running"},
        "Tags": [{"Key": LAB, "Value": "microblog"}, {"Key": ROLE, "Value": "web"}],
    }
    state.tagged.instances = [odd]
    priced = from_state(state, [{"Size": 8, "VolumeType": "io9"}], "us-east-1", prices)
    assert priced.lines == () and priced.hourly == 0
    assert any("web server (x9.huge)" in n and "1 io9 volumes" in n for n in priced.notes)

"""`vpclab diagram` on a live lab draws its real addresses, the traffic paths and a verdict
per step from the checklist; without a lab (or with --from-spec) it is the spec's drawing,
byte for byte the committed Diagram.jpg."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from vpclab import cli
from vpclab.aws.inventory import route_to

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz is not installed")

PATHS = (
    "HTTPS :443 (80→443)",
    "proxy :5000",
    "SSH :22 over VPC peering",
    "SSH :22 (setup.sh)",
    "scrape :5000/metrics, :9100",
    "scrape :9100, :9113",
    "egress only",
)


def dot_source(path: Path) -> str:
    """The laid-out graphviz source, with dot's line continuations joined."""
    return path.read_text().replace("\\\n", "")


def test_live_diagram_has_addresses_paths_and_badges(readonly_lab, tmp_path):
    drawing = readonly_lab.diagram(tmp_path / "live.dot")
    source = dot_source(drawing.path)
    assert drawing.live
    status = readonly_lab.status()
    for role, server in status.instances.items():
        assert f"private {server.private_ip}" in source, role
        assert (f"public {server.public_ip}" if server.public_ip else "no public IP") in source
    assert f"Elastic IP {status.nat_public_ips[0]}" in source
    for label in PATHS:
        assert label in source, label
    assert "web: Nginx :443" in source
    assert "HTTP :80" not in source  # nginx serves HTTPS; 80 only redirects
    assert [b.step for b in drawing.badges] == readonly_lab.built_steps()
    for badge in drawing.badges:
        assert f"{badge.step}: {badge.status}" in source
    assert {b.step: b.status for b in drawing.badges}["nat"] == "PASS"
    assert "egress only\n[nat PASS]" in source
    assert "Grafana" not in source  # the local target runs no Grafana (aws user data does)


def test_a_failing_step_shows_red(built_lab, tmp_path):
    private = built_lab.status().private_subnet_ids[0]
    ec2 = built_lab.cloud.ec2
    table = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [private]}]
    )["RouteTables"][0]
    assert route_to(table, "0.0.0.0/0")
    ec2.delete_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")
    drawing = built_lab.diagram(tmp_path / "live.dot")
    assert {b.step: b.status for b in drawing.badges}["nat"] == "FAIL"
    assert "egress only\n[nat FAIL]" in dot_source(drawing.path)
    assert "nat FAIL" in drawing.summary()


def test_without_a_lab_it_is_the_committed_diagram(lab, tmp_path):
    drawing = lab.diagram(tmp_path / "Diagram.jpg")
    assert not drawing.live and "drawn from the spec" in drawing.summary()
    assert drawing.path.read_bytes() == (ROOT / "Diagram.jpg").read_bytes()


def test_cli_draws_live_or_from_spec(readonly_lab, tmp_path, monkeypatch, capsys):
    spec = str(readonly_lab.spec_path)
    monkeypatch.setattr(sys, "argv", ["vpclab", "diagram", "--spec", spec, "--out", "live.png"])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        cli.main()
    assert exc.value.code in (0, None)
    assert "drawn from the live lab: vpc PASS" in capsys.readouterr().out
    assert (tmp_path / "live.png").read_bytes()[:4] == b"\x89PNG"
    monkeypatch.setattr(sys, "argv", ["vpclab", "diagram", "--spec", spec, "--from-spec"])
    with pytest.raises(SystemExit):
        cli.main()
    assert (tmp_path / "Diagram.jpg").read_bytes() == (ROOT / "Diagram.jpg").read_bytes()

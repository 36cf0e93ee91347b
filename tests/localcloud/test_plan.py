"""The data plane's plan from the control plane's state: pure, no root needed."""

from __future__ import annotations

import labkit
import pytest
from conftest import lab_name

from vpclab.localcloud import dataplane, nft, router
from vpclab.localcloud.dataplane import Egress, Snapshot


@pytest.fixture(scope="module")
def lab(moto, tmp_path_factory):
    """One lab for the module: tests that change it put it back (the peering test is last)."""
    moto.reset()
    lab = labkit.build_network(labkit.ec2_client(moto.endpoint), lab_name("plan"))
    for role in ("jenkins", "web", "app"):
        labkit.launch(lab, role, tmp_path_factory.mktemp("keys"))
    yield lab
    moto.reset()


def plan_of(lab):
    return dataplane.plan(Snapshot.fetch(lab.ec2), lab.name)


def bridges(lab, plan):
    by_subnet = {s.id: s.bridge for s in plan.subnets}
    jenkins = next(h for h in plan.hosts if h.role == "jenkins")
    return (
        by_subnet[lab.subnets["public"]],
        by_subnet[lab.subnets["private"]],
        by_subnet[jenkins.subnet_id],
    )


def test_the_healthy_lab(lab):
    plan = plan_of(lab)
    pub, priv, default = bridges(lab, plan)
    assert {
        (pub, priv),
        (priv, pub),
        (default, pub),
        (pub, default),
        (default, priv),
        (priv, default),
    } == set(plan.links)
    assert set(plan.egress) == {
        Egress(pub, "igw"),
        Egress(default, "igw"),
        Egress(priv, "nat", lab.nat),
    }
    inbound_roles = {h.role for h in plan.hosts if h.instance_id in plan.inbound}
    assert inbound_roles == {"web", "jenkins"}
    assert plan.nat_ids == (lab.nat,)
    assert dataplane.labs_in(Snapshot.fetch(lab.ec2)) == {lab.name}


def test_a_subnet_without_a_default_route_has_no_way_out(lab):
    lab.ec2.delete_route(RouteTableId=lab.tables["private"], DestinationCidrBlock="0.0.0.0/0")
    try:
        plan = plan_of(lab)
        _, priv, _ = bridges(lab, plan)
        assert all(e.bridge != priv for e in plan.egress)
    finally:
        lab.ec2.create_route(
            RouteTableId=lab.tables["private"],
            DestinationCidrBlock="0.0.0.0/0",
            NatGatewayId=lab.nat,
        )


def test_a_nat_in_a_subnet_without_an_igw_route_gives_no_way_out(lab):
    igw = next(
        r["GatewayId"]
        for t in lab.ec2.describe_route_tables(RouteTableIds=[lab.tables["public"]])["RouteTables"]
        for r in t["Routes"]
        if r.get("DestinationCidrBlock") == "0.0.0.0/0"
    )
    lab.ec2.delete_route(RouteTableId=lab.tables["public"], DestinationCidrBlock="0.0.0.0/0")
    try:
        plan = plan_of(lab)
        pub, priv, _ = bridges(lab, plan)
        assert {e.bridge for e in plan.egress}.isdisjoint({pub, priv})
        assert all(h.role != "web" for h in plan.hosts if h.instance_id in plan.inbound)
    finally:
        lab.ec2.create_route(
            RouteTableId=lab.tables["public"], DestinationCidrBlock="0.0.0.0/0", GatewayId=igw
        )


def test_security_groups_become_rules_with_member_addresses(lab):
    plan = plan_of(lab)
    hosts = {h.role: h for h in plan.hosts}
    web_ip = hosts["web"].private_ip
    ingress = {
        (r.protocol, r.from_port, r.peers) for r in hosts["app"].rules if r.direction == "in"
    }
    assert ingress == {("tcp", 22, (f"{web_ip}/32",)), ("tcp", 5000, (f"{web_ip}/32",))}
    web_in = {(r.from_port, r.peers) for r in hosts["web"].rules if r.direction == "in"}
    assert (22, (f"{hosts['jenkins'].private_ip}/32", labkit.ADMIN_CIDR)) in web_in
    text = nft.render_host("t", hosts["app"].rules)
    assert f"ip saddr {{ {web_ip}/32 }} tcp dport 5000 accept" in text
    assert "policy drop" in text and "ct state established,related accept" in text
    assert "ip daddr { 0.0.0.0/0 } accept" in text  # default egress


def test_router_rules_map_public_addresses_and_the_nat(lab):
    plan = plan_of(lab)
    hosts = {h.role: h for h in plan.hosts}
    public = dataplane.allocate({}, [hosts["web"].instance_id, lab.nat])
    text = router.render("t", plan, public)
    web_pub = public[hosts["web"].instance_id]
    assert f"dnat ip to {hosts['web'].private_ip}" in text
    assert f"snat ip to {web_pub}" in text
    assert f"snat ip to {public[lab.nat]}" in text
    assert all(ip.startswith("198.51.100.") for ip in public.values())


def test_public_addresses_are_kept_while_their_owner_lives():
    first = dataplane.allocate({}, ["i-a", "i-b"])
    again = dataplane.allocate(first, ["i-b", "i-c"])
    assert again["i-b"] == first["i-b"] and again["i-c"] == first["i-a"]


def test_interface_names_fit_linux_limits():
    lab = "a-rather-long-lab-name"
    for name in (
        dataplane.bridge_name(lab, "subnet-0123456789abcdef0"),
        dataplane.veth_name(lab, "172.31.255.254"),
        dataplane.internet_link(lab),
    ):
        assert len(name) <= 15


def test_namespace_suffixes_tell_labs_apart():
    assert dataplane.is_host_netns_suffix("web")
    assert dataplane.is_host_netns_suffix("i-0abc123")
    assert not dataplane.is_host_netns_suffix("2-web")


def test_peering_needs_both_routes_and_an_active_connection(lab):
    lab.ec2.delete_route(
        RouteTableId=lab.tables["public"], DestinationCidrBlock=labkit.DEFAULT_VPC_CIDR
    )
    plan = plan_of(lab)
    pub, priv, default = bridges(lab, plan)
    assert (default, pub) not in plan.links and (pub, default) not in plan.links
    assert (default, priv) in plan.links
    lab.ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=lab.peering)
    plan = plan_of(lab)
    assert (default, priv) not in plan.links and (pub, priv) in plan.links

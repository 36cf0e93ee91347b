"""The data plane's plan from the control plane's state: pure, no root needed."""

from __future__ import annotations

import pytest

from tests.localcloud import labkit
from tests.localcloud.conftest import lab_name
from vpclab.localcloud import dataplane, names, nft, router
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
    return dataplane.plan(Snapshot.fetch(lab.ec2), lab.name, names.lab_id(lab.name, "/state"))


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
    # As on AWS, no security group stands before the instance metadata service.
    assert "ip daddr 169.254.169.254 tcp dport { 80, 4566 } accept" in text


def test_router_rules_map_public_addresses_and_the_nat(lab):
    plan = plan_of(lab)
    hosts = {h.role: h for h in plan.hosts}
    public = dataplane.allocate({}, plan.public_wanted())
    text = router.render("t", plan, public)
    web_pub = public[hosts["web"].instance_id]
    assert f"dnat ip to {hosts['web'].private_ip}" in text
    assert f"snat ip to {web_pub}" in text
    assert f"snat ip to {public[lab.nat]}" in text
    # The project's moto hands out documentation addresses: the wire uses exactly those.
    assert web_pub == lab.instance("web")["PublicIpAddress"]
    assert web_pub.startswith("198.51.100.")
    nat = lab.ec2.describe_nat_gateways(NatGatewayIds=[lab.nat])["NatGateways"][0]
    assert public[lab.nat] == nat["NatGatewayAddresses"][0]["PublicIp"]
    assert public[lab.nat].startswith("203.0.113.")
    # The router offers the metadata service to the lab's side only, not to the internet.
    inet = dataplane.internet_link(plan.lab_id)
    assert f'iifname != "{inet}" ip daddr 169.254.169.254 tcp dport {{ 80, 4566 }} accept' in text


def test_other_public_addresses_are_mapped_from_the_pool_and_kept():
    """An external control plane (plain moto) hands out 54.x: those are mapped."""
    first = dataplane.allocate({}, {"i-a": "54.214.1.2", "i-b": "127.3.4.5"})
    assert set(first.values()) <= set(dataplane.PUBLIC_POOL)
    again = dataplane.allocate(first, {"i-b": "127.3.4.5", "i-c": "54.214.9.9"})
    assert again["i-b"] == first["i-b"] and again["i-c"] == first["i-a"]


def test_documentation_addresses_are_used_as_is_but_never_a_reserved_one():
    wanted = {
        "i-a": "198.51.100.42",
        "nat-1": "203.0.113.7",
        "i-b": dataplane.LAPTOP_IP,  # never: the laptop's address
        "i-c": "203.0.113.255",
    }
    got = dataplane.allocate({"i-d": "198.51.100.42"}, {**wanted, "i-d": None})
    assert got["i-a"] == "198.51.100.42" and got["nat-1"] == "203.0.113.7"
    assert got["i-b"] in dataplane.PUBLIC_POOL and got["i-c"] in dataplane.PUBLIC_POOL
    assert got["i-d"] != "198.51.100.42"  # the API's owner of an address wins it
    assert len(set(got.values())) == len(got)


def test_interface_names_fit_linux_limits():
    lid = names.lab_id("a-rather-long-lab-name", "/some/rather/long/state/folder/.vpclab")
    for name in (
        dataplane.bridge_name(lid, "subnet-0123456789abcdef0"),
        dataplane.veth_name(lid, "172.31.255.254"),
        dataplane.internet_link(lid),
    ):
        assert len(name) <= 15
        assert names.id_of_link(name) == lid


def test_a_labs_id_is_its_name_plus_its_state_folder(tmp_path):
    one = names.lab_id("microblog", tmp_path / "a" / ".vpclab")
    assert one == names.lab_id("microblog", tmp_path / "a" / ".vpclab")  # stable
    assert one != names.lab_id("microblog", tmp_path / "b" / ".vpclab")  # another clone
    assert one != names.lab_id("microblog2", tmp_path / "a" / ".vpclab")  # another lab
    web = names.netns(one, "web")
    assert names.id_of_netns(web) == one and names.netns_suffix(one, web) == "web"
    assert names.netns_suffix(names.lab_id("x", tmp_path), web) is None
    assert names.id_of_netns("vpclab-microblog-web") is None  # not an id: not ours to sweep
    assert names.id_of_table(names.nft_table(one)) == one


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

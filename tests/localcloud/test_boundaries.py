"""Each boundary of the lab, proven with real connections, allowed and denied.

One lab for the whole module: Jenkins in the default VPC (peered), web in the public
subnet, app in the private subnet behind the NAT. Raw boto3 calls change the control plane;
the agent must make them true on the wire.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

import pytest

from tests.localcloud import labkit
from tests.localcloud.conftest import eventually, lab_name, lid
from vpclab.checklist import Status
from vpclab.checks.live import live_checks
from vpclab.localcloud import internet, names, netns, probe, procfs
from vpclab.localcloud.dataplane import SERVICES_IP
from vpclab.localcloud.netns_socket import socket_in
from vpclab.spec import Ports

BLOCKED = 0.5  # seconds to wait on a connect that must fail


@pytest.fixture(scope="module")
def lab(cloud):
    lab = labkit.build_network(cloud.ec2, lab_name("b"))
    for role in ("jenkins", "web", "app"):
        labkit.launch(lab, role, cloud.keys)
    cloud.converge(lab.name)
    return lab


@pytest.fixture(scope="module")
def ips(lab, cloud):
    st = cloud.lab_status(lab.name)
    return {role: h.private_ip for role, h in st.hosts.items()} | {
        "web_public": st.hosts["web"].public_ip
    }


def test_every_instance_boots_with_the_private_ip_moto_gave_it(lab, cloud):
    st = cloud.lab_status(lab.name)
    assert set(st.hosts) == {"jenkins", "web", "app"}
    for role, host in st.hosts.items():
        assert host.booted, role
        assert host.private_ip == lab.private_ip(role)
        assert host.netns == names.netns(lid(lab.name), role)
    assert st.hosts["app"].public_ip is None
    # The wire uses exactly the public address the API reports (TEST-NET-2).
    assert st.hosts["web"].public_ip.startswith("198.51.100.")
    assert st.hosts["web"].public_ip == lab.instance("web")["PublicIpAddress"]
    assert st.hosts["web"].api_public_ip == st.hosts["web"].public_ip


def test_internet_reaches_web_ssh_at_its_public_address(lab, cloud, ips):
    key = probe.ssh_host_key(lid(lab.name), "internet", ips["web_public"])
    assert key == cloud.lab_status(lab.name).hosts["web"].host_key


def test_internet_cannot_reach_app_on_22_or_5000(lab, ips):
    for port in (22, 5000):
        assert not probe.tcp_connect(lid(lab.name), "internet", ips["app"], port, BLOCKED)


def test_internet_cannot_reach_web_on_a_port_its_sg_does_not_open(lab, ips):
    assert not probe.tcp_connect(lid(lab.name), "internet", ips["web_public"], 2222, BLOCKED)


def test_web_reaches_app_ssh(lab, ips):
    assert probe.banner(lid(lab.name), "web", ips["app"], 22).startswith(b"SSH-2.0")


def test_app_cannot_open_ssh_to_web_its_sg_allows_only_admin_and_jenkins(lab, ips):
    assert not probe.tcp_connect(lid(lab.name), "app", ips["web"], 22, BLOCKED)


def test_jenkins_reaches_web_over_peering(lab, ips):
    assert probe.tcp_connect(lid(lab.name), "jenkins", ips["web"], 22)


def test_jenkins_cannot_reach_app_whose_sg_allows_only_web(lab, ips):
    assert not probe.tcp_connect(lid(lab.name), "jenkins", ips["app"], 22, BLOCKED)


def test_app_reaches_the_internet_services_through_the_nat(lab, cloud):
    services = cloud.lab_status(lab.name).services
    assert services.state == "up", services
    assert probe.tcp_connect(lid(lab.name), "app", SERVICES_IP, internet.GIT_PORT)


def test_revoking_web_to_app_cuts_within_2s_and_reauthorizing_restores(lab, ips):
    ec2 = lab.ec2
    rule_ids = lab.sg_rule_ids("app", 22, "web")
    assert rule_ids
    ec2.revoke_security_group_ingress(GroupId=lab.groups["app"], SecurityGroupRuleIds=rule_ids)
    try:

        def cut() -> bool:
            """web -> app:22 refused"""
            return not probe.tcp_connect(lid(lab.name), "web", ips["app"], 22, 0.2)

        assert eventually(cut, timeout=2.0, interval=0.0) < 2.0
    finally:
        ec2.authorize_security_group_ingress(
            GroupId=lab.groups["app"],
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "UserIdGroupPairs": [{"GroupId": lab.groups["web"]}],
                }
            ],
        )

    def restored() -> bool:
        """web -> app:22 accepted again"""
        return probe.tcp_connect(lid(lab.name), "web", ips["app"], 22, 0.3)

    assert eventually(restored, timeout=2.0, interval=0.0) < 2.0


def test_deleting_the_nat_route_cuts_the_app_from_the_internet(lab):
    ec2, table = lab.ec2, lab.tables["private"]
    ec2.delete_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0")
    try:

        def cut() -> bool:
            """app -> internet git daemon refused"""
            return not probe.tcp_connect(lid(lab.name), "app", SERVICES_IP, internet.GIT_PORT, 0.2)

        eventually(cut, timeout=2.0, interval=0.0)
        # And it stays cut: it was no fluke of timing.
        time.sleep(0.6)
        assert cut()
    finally:
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=lab.nat)

    def back() -> bool:
        """app -> internet git daemon accepted again"""
        return probe.tcp_connect(lid(lab.name), "app", SERVICES_IP, internet.GIT_PORT, 0.3)

    eventually(back, timeout=2.0, interval=0.0)


def test_peering_needs_the_route_on_both_sides(lab, ips):
    ec2, table = lab.ec2, lab.tables["public"]
    ec2.delete_route(RouteTableId=table, DestinationCidrBlock=labkit.DEFAULT_VPC_CIDR)
    try:

        def cut() -> bool:
            """jenkins -> web refused without the lab side's route back"""
            return not probe.tcp_connect(lid(lab.name), "jenkins", ips["web"], 22, 0.2)

        eventually(cut, timeout=2.0, interval=0.0)
    finally:
        ec2.create_route(
            RouteTableId=table,
            DestinationCidrBlock=labkit.DEFAULT_VPC_CIDR,
            VpcPeeringConnectionId=lab.peering,
        )
    eventually(lambda: probe.tcp_connect(lid(lab.name), "jenkins", ips["web"], 22, 0.3), 2.0, 0.0)


def _serve_http_in(ns: str, port: int, body: bytes) -> socket.socket:
    """A one-page HTTP server listening inside a host's namespace (stands in for nginx)."""
    listener = socket_in(ns)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    threading.Thread(target=serve, daemon=True).start()
    return listener


def test_web_port_443_is_published_on_localhost(lab, cloud):
    url = cloud.lab_status(lab.name).web_url
    assert url.startswith("https://127.0.0.1:")
    body = b"microblog " + lab.name.encode()
    # The publisher carries TCP: a plain stand-in server on 443 answers through it.
    listener = _serve_http_in(names.netns(lid(lab.name), "web"), 443, body)
    try:
        with urllib.request.urlopen(url.replace("https://", "http://", 1), timeout=5) as page:
            assert page.read() == body
    finally:
        listener.close()


def test_live_checks_pass_on_a_healthy_lab(lab, cloud):
    results = live_checks(lab.name, cloud.local_dir, {"instances", "jenkins", "nat"}, Ports())
    assert {r.id for r in results} == {
        "instances.hosts_booted",
        "instances.internet_to_web_ssh",
        "instances.internet_to_app_ssh_blocked",
        "instances.internet_to_app_5000_blocked",
        "instances.web_to_app_ssh",
        "jenkins.reaches_web_over_peering",
        "nat.app_reaches_internet",
    }
    assert [(r.id, r.detail) for r in results if r.status is not Status.PASS] == []


def test_live_check_fails_with_a_hint_when_the_nat_route_is_gone(lab, cloud):
    ec2, table = lab.ec2, lab.tables["private"]
    ec2.delete_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0")
    try:
        cloud.converge(lab.name)
        (result,) = live_checks(lab.name, cloud.local_dir, {"nat"}, Ports())
        assert result.status is Status.FAIL and "NAT" in result.hint
    finally:
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=lab.nat)
        cloud.converge(lab.name)


def test_terminating_an_instance_removes_its_host_and_namespace(lab, cloud):
    iid = labkit.launch(lab, "web", cloud.keys)  # a second web: named by its instance id
    st = cloud.converge(lab.name)
    assert st.hosts[iid].booted
    pid = st.hosts[iid].pid
    lab.ec2.terminate_instances(InstanceIds=[iid])

    def gone() -> bool:
        """namespace and host process gone"""
        return not netns.exists(names.netns(lid(lab.name), iid)) and not _alive(pid)

    assert eventually(gone, timeout=3.0) < 3.0
    assert iid not in cloud.converge(lab.name).hosts


def _alive(pid: int) -> bool:
    return procfs.running(pid)


def test_the_web_servers_api_public_ip_answers_ssh_from_the_internet(lab, cloud):
    """What describe_instances reports is what answers on the wire."""
    web = cloud.lab_status(lab.name).hosts["web"]
    found = lab.ec2.describe_instances(InstanceIds=[web.instance_id])["Reservations"]
    api_ip = found[0]["Instances"][0]["PublicIpAddress"]
    assert probe.banner(lid(lab.name), "internet", api_ip, 22).startswith(b"SSH-2.0")
    nat = lab.ec2.describe_nat_gateways(NatGatewayIds=[lab.nat])["NatGateways"][0]
    eip = nat["NatGatewayAddresses"][0]["PublicIp"]
    assert eip.startswith("203.0.113.")
    assert cloud.lab_status(lab.name).nat == {lab.nat: eip}


def test_a_live_check_fails_right_after_a_raw_revoke(lab, cloud):
    """verify reads its own writes: no sleep between the boto3 call and the check."""
    natural = [
        {
            "IpProtocol": "tcp",
            "FromPort": 22,
            "ToPort": 22,
            "UserIdGroupPairs": [{"GroupId": lab.groups["web"]}],
        }
    ]
    steps = {"instances"}
    endpoint = cloud.moto.endpoint

    def web_to_app() -> Status:
        results = live_checks(lab.name, cloud.local_dir, steps, Ports(), endpoint)
        return next(r.status for r in results if r.id == "instances.web_to_app_ssh")

    assert web_to_app() is Status.PASS
    lab.ec2.revoke_security_group_ingress(GroupId=lab.groups["app"], IpPermissions=natural)
    try:
        assert web_to_app() is Status.FAIL
    finally:
        lab.ec2.authorize_security_group_ingress(GroupId=lab.groups["app"], IpPermissions=natural)
    assert web_to_app() is Status.PASS

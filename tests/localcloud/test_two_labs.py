"""Two labs with the same CIDRs run side by side without touching each other."""

from __future__ import annotations

import pytest

from tests.localcloud import labkit
from tests.localcloud.conftest import lab_name, lid
from vpclab.localcloud import probe


@pytest.fixture(scope="module")
def labs(cloud):
    # The default VPC's main route table can hold only one route to 10.0.0.0/16, so only
    # the first lab is peered; the second keeps the same CIDRs otherwise.
    made = []
    for suffix, peered in (("x", True), ("y", False)):
        lab = labkit.build_network(cloud.ec2, lab_name(suffix), peering=peered)
        for role in ("web", "app"):
            labkit.launch(lab, role, cloud.keys)
        made.append(lab)
    for lab in made:
        cloud.converge(lab.name)
    return made


def test_both_labs_got_the_same_private_addresses(labs):
    a, b = labs
    assert a.private_ip("app") == b.private_ip("app")
    assert a.private_ip("web") == b.private_ip("web")


def test_each_web_reaches_only_its_own_app(labs, cloud):
    for lab in labs:
        own = cloud.lab_status(lab.name).hosts["app"].host_key
        seen = probe.ssh_host_key(lid(lab.name), "web", lab.private_ip("app"))
        assert seen == own
    keys = {cloud.lab_status(lab.name).hosts["app"].host_key for lab in labs}
    assert len(keys) == 2


def test_each_lab_has_its_own_localhost_port(labs, cloud):
    urls = {cloud.lab_status(lab.name).web_url for lab in labs}
    assert len(urls) == 2 and None not in urls


def test_terminating_one_labs_app_leaves_the_other_alone(labs, cloud):
    a, b = labs
    app_ip = a.private_ip("app")
    a.ec2.terminate_instances(InstanceIds=[a.instances["app"]])
    st = cloud.converge(a.name)
    assert "app" not in st.hosts
    assert not probe.tcp_connect(lid(a.name), "web", app_ip, 22, 0.5)
    assert probe.tcp_connect(lid(b.name), "web", b.private_ip("app"), 22)

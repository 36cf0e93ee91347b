"""A restart for new code adopts the running hosts (hand-over), and adopts only what checks
out: a recorded pid that is dead, or is another process, is rebuilt, and never signalled."""

from __future__ import annotations

import dataclasses
import stat
import subprocess

from tests.localcloud import labkit
from tests.localcloud.conftest import lab_name, lid
from vpclab.checklist import Status
from vpclab.checks.live import live_checks
from vpclab.localcloud import client, handover, netns, probe, procfs
from vpclab.localcloud.orphans import ProcRef
from vpclab.spec import Ports

STEPS = {"instances", "jenkins", "nat"}


def _identity(cloud, lab: str) -> dict[str, tuple[int, int, int | None]]:
    """Each host's crun pid, init pid and namespace inode."""
    st = cloud.lab_status(lab)
    return {
        name: (h.pid, procfs.children(h.pid)[0], netns.inode(h.netns))
        for name, h in st.hosts.items()
    }


def _failed(cloud, lab: str) -> list[tuple[str, str]]:
    results = live_checks(lab, cloud.local_dir, STEPS, Ports())
    assert len(results) == 7
    return [(r.id, r.detail) for r in results if r.status is not Status.PASS]


def test_a_restart_for_new_code_adopts_the_running_hosts(cloud, monkeypatch):
    lab = labkit.build_network(cloud.ec2, lab_name("a"), peering=True)
    for role in ("jenkins", "web", "app"):
        labkit.launch(lab, role, cloud.keys)
    before = cloud.converge(lab.name, 120)
    web_url = before.web_url
    hosts = _identity(cloud, lab.name)
    assert set(hosts) == {"jenkins", "web", "app"}
    assert _failed(cloud, lab.name) == []
    old = client.running(cloud.local_dir).pid

    monkeypatch.setattr(client, "fingerprint", lambda: "a-newer-checkout")
    said: list[str] = []
    new = client.start(cloud.local_dir, cloud.moto.endpoint, labkit.REGION, say=said.append)
    assert said == ["restarting the local agent: it ran an older version of the project"]
    assert new != old and not procfs.running(old)
    after = cloud.converge(lab.name, 60)

    assert _identity(cloud, lab.name) == hosts  # same processes, same namespaces
    assert after.web_url == web_url and after.services.state == "up"
    assert _failed(cloud, lab.name) == []
    assert not (cloud.local_dir / handover.HANDOVER_FILE).exists()  # taken once
    # A full stop is not a hand-over: it ends the adopted hosts too.
    client.stop(cloud.local_dir)
    assert not any(procfs.running(pid) for ids in hosts.values() for pid in ids[:2])
    assert not any(netns.exists(h.netns) for h in after.hosts.values())
    client.start(cloud.local_dir, cloud.moto.endpoint, labkit.REGION)


def test_a_hand_over_whose_pids_do_not_check_out_is_rebuilt(cloud):
    lab = labkit.build_network(cloud.ec2, lab_name("d"), peering=False)
    for role in ("web", "app"):
        labkit.launch(lab, role, cloud.keys)
    cloud.converge(lab.name, 120)
    hosts = _identity(cloud, lab.name)
    assert client.hand_over(cloud.local_dir)
    path = cloud.local_dir / handover.HANDOVER_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    record = handover.take(cloud.local_dir)
    assert record is not None and not path.exists()

    exited = subprocess.Popen(["true"])
    exited.wait()  # a pid that was, and is no more
    stranger = subprocess.Popen(["sleep", "300"])  # alive, but not the host's init
    try:
        stand_in = {"web": ProcRef(exited.pid, "1", "sshd"), "app": ProcRef.of(stranger.pid)}
        (mine,) = [x for x in record.labs if x.lab == lab.name]
        hosts_in = tuple(dataclasses.replace(h, init=stand_in[h.plan.role]) for h in mine.hosts)
        labs = tuple(
            dataclasses.replace(x, hosts=hosts_in) if x is mine else x for x in record.labs
        )
        handover.write(cloud.local_dir, dataclasses.replace(record, labs=labs))

        client.start(cloud.local_dir, cloud.moto.endpoint, labkit.REGION)
        st = cloud.converge(lab.name, 60)
        assert stranger.poll() is None  # never signalled: it was not ours
        rebuilt = _identity(cloud, lab.name)
        for name in ("web", "app"):
            crun, init, _inode = hosts[name]
            assert rebuilt[name][0] != crun and rebuilt[name][1] != init
            assert not procfs.running(crun) and not procfs.running(init)
        web, app = st.hosts["web"], st.hosts["app"]
        assert probe.banner(lid(lab.name), "internet", web.public_ip, 22).startswith(b"SSH-")
        assert probe.banner(lid(lab.name), "web", app.private_ip, 22).startswith(b"SSH-")
    finally:
        stranger.kill()
        stranger.wait()

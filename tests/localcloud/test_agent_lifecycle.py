"""The agent's lifecycle: refusal without root, status, stop, and force_down after a crash."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.localcloud import labkit
from tests.localcloud.conftest import eventually, lab_name, leftovers, lid, require_root
from vpclab.checklist import Status
from vpclab.checks.live import live_checks
from vpclab.errors import VpclabError
from vpclab.localcloud import cleanup, client, names, netns, probe, procfs
from vpclab.spec import Ports


def test_start_without_root_says_why(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(VpclabError, match="root"):
        client.start(tmp_path, "http://127.0.0.1:1", labkit.REGION)
    assert not (tmp_path / client.AGENT_FILE).exists()


def test_live_checks_skip_without_root(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    results = live_checks("any", tmp_path, {"instances", "jenkins", "nat"}, Ports())
    assert len(results) == 7
    assert {r.status for r in results} == {Status.SKIP}
    assert all("root" in r.detail for r in results)


def test_live_checks_skip_without_the_agent(tmp_path):
    require_root()
    results = live_checks("any", tmp_path, {"instances"}, Ports())
    assert results and {r.status for r in results} == {Status.SKIP}
    assert all("agent is not running" in r.detail for r in results)


def test_status_and_stop_without_an_agent(tmp_path):
    assert client.status(tmp_path) is None
    assert client.stop(tmp_path) is False
    with pytest.raises(VpclabError, match="not running"):
        client.wait_converged(tmp_path, "any", timeout=0.1)


def test_start_twice_is_a_noop_and_stop_removes_everything(cloud):
    lab = labkit.build_network(cloud.ec2, lab_name("l"), peering=False)
    labkit.launch(lab, "web", cloud.keys)
    st = cloud.converge(lab.name)
    pid = client.running(cloud.local_dir).pid
    assert client.start(cloud.local_dir, cloud.moto.endpoint, labkit.REGION) == pid
    host_pid = st.hosts["web"].pid
    started = time.monotonic()
    assert client.stop(cloud.local_dir)
    assert time.monotonic() - started < 3.0
    assert leftovers(lid(lab.name)) == []
    assert not os.path.exists(f"/proc/{host_pid}")
    assert client.status(cloud.local_dir) is None
    # Back up for the next test, on the same control plane: the lab comes back.
    client.start(cloud.local_dir, cloud.moto.endpoint, labkit.REGION)
    assert cloud.converge(lab.name).hosts["web"].booted


def test_force_down_cleans_up_after_a_killed_agent(cloud):
    lab = labkit.build_network(cloud.ec2, lab_name("k"), peering=False)
    labkit.launch(lab, "web", cloud.keys)
    labkit.launch(lab, "app", cloud.keys)
    st = cloud.converge(lab.name)
    host_pids = [h.pid for h in st.hosts.values()]
    pid = client.running(cloud.local_dir).pid
    os.kill(pid, signal.SIGKILL)
    eventually(lambda: client.running(cloud.local_dir) is None or _reap(pid), 5.0)
    assert leftovers(lid(lab.name))  # the crash left the lab's namespaces behind
    removed = cleanup.force_down(lid(lab.name))
    assert any(r.startswith("namespace ") for r in removed)
    assert leftovers(lid(lab.name)) == []
    for host_pid in host_pids:
        eventually(lambda p=host_pid: not os.path.exists(f"/proc/{p}") or _zombie(p), 3.0)
    # A restarted agent sweeps what is left and rebuilds the lab from the control plane.
    client.start(cloud.local_dir, cloud.moto.endpoint, labkit.REGION)
    assert set(cloud.converge(lab.name).hosts) == {"web", "app"}


def test_force_down_spares_the_same_lab_of_another_state_folder(cloud, tmp_path):
    """Same name, another clone: another id, so `down --force` of one leaves the other."""
    name = lab_name("p")
    mine, theirs = lid(name), lid(name, tmp_path / "other-clone" / ".vpclab")
    assert mine != theirs
    for lab_id in (mine, theirs):
        netns.add(names.netns(lab_id, "router"))
    try:
        cleanup.force_down(mine)
        assert netns.exists(names.netns(theirs, "router"))
        assert not netns.exists(names.netns(mine, "router"))
    finally:
        cleanup.force_down(theirs)
        cleanup.force_down(mine)


def _reap(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return True


def _zombie(pid: int) -> bool:
    return not procfs.running(pid)


def test_the_agent_rebuilds_what_someone_else_removed(cloud):
    lab = labkit.build_network(cloud.ec2, lab_name("r"), peering=False)
    labkit.launch(lab, "web", cloud.keys)
    before = cloud.converge(lab.name).hosts["web"].pid
    cleanup.force_down(lid(lab.name))  # behind the agent's back
    st = cloud.converge(lab.name)
    assert st.hosts["web"].booted and st.hosts["web"].pid != before
    assert probe.tcp_connect(lid(lab.name), "internet", st.hosts["web"].public_ip, 22)

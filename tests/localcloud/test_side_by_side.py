"""Labs side by side, and an agent that follows its control plane.

Two clones of the project (two copies of lab.toml, so two state folders) run a lab of the
same name at once, each with its own hosts; `local down --force` in one leaves the other.
Switching AWS_ENDPOINT_URL between two moto servers across up/down/up needs no wait.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.localcloud import labkit
from tests.localcloud.conftest import lid, require_root
from vpclab.errors import VpclabError
from vpclab.lab import Lab
from vpclab.localcloud import cleanup, client, motoserver, names, netns, probe

ROOT = Path(__file__).resolve().parents[2]
ENV = ("AWS_ENDPOINT_URL", "VPCLAB_STATE", "VPCLAB_DATAPLANE", "VPCLAB_TARGET")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ENV:
        monkeypatch.delenv(key, raising=False)


def _clone(folder: Path) -> Path:
    folder.mkdir(parents=True)
    spec = folder / "lab.toml"
    spec.write_text((ROOT / "lab.toml").read_text())
    return spec


def _shut(lab: Lab) -> None:
    """Finalizer: this lab's agent, hosts and moto server go, and nothing else."""
    lab.local_stop()
    cleanup.force_down(lab.lab_id)
    motoserver.forget(lab.local_dir)


@pytest.fixture
def two_clones(tmp_path: Path, clean_env: None) -> Iterator[tuple[Lab, Lab]]:
    require_root()
    labs = []
    try:
        for name in ("clone-a", "clone-b"):
            lab = Lab(_clone(tmp_path / name), "local", say=lambda _line: None)
            lid(lab.spec.name, lab.spec_path.parent / ".vpclab")  # swept at session end too
            labs.append(lab)
        yield labs[0], labs[1]
    finally:
        for lab in labs:
            _shut(lab)


def test_two_clones_run_the_same_lab_side_by_side(two_clones):
    a, b = two_clones
    assert a.spec.name == b.spec.name and a.lab_id != b.lab_id
    for lab in (a, b):
        lab.up(through="instances")
    st = {lab.lab_id: lab.dataplane_status() for lab in (a, b)}
    for lab in (a, b):
        hosts = st[lab.lab_id].hosts
        assert st[lab.lab_id].lab_id == lab.lab_id
        assert {"web", "app", "jenkins"} <= set(hosts) and all(h.booted for h in hosts.values())
        assert all(names.id_of_netns(h.netns) == lab.lab_id for h in hosts.values())
    # Each clone's internet reaches its own web server (same address, different hosts).
    keys = set()
    for lab in (a, b):
        web = st[lab.lab_id].hosts["web"]
        assert probe.ssh_host_key(lab.lab_id, "internet", web.public_ip) == web.host_key
        keys.add(web.host_key)
    assert len(keys) == 2
    assert st[a.lab_id].web_url != st[b.lab_id].web_url

    # `vpclab local down --force` in clone a leaves clone b running.
    env = {k: v for k, v in os.environ.items() if k not in ENV}
    down = subprocess.run(
        [
            sys.executable,
            "-m",
            "vpclab.cli",
            "local",
            "down",
            "--force",
            "--spec",
            str(a.spec_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert down.returncode == 0, down.stderr
    assert f"id {a.lab_id}" in down.stdout
    assert cleanup.lab_namespaces(a.lab_id) == []
    web_b = st[b.lab_id].hosts["web"]
    assert probe.banner(b.lab_id, "internet", web_b.public_ip, 22).startswith(b"SSH-2.0")
    assert b.dataplane_status().hosts["web"].pid == web_b.pid


def test_two_state_folders_of_one_clone_are_two_labs(tmp_path, monkeypatch, clean_env):
    spec = _clone(tmp_path / "clone")
    ids = set()
    for state in ("one", "two"):
        monkeypatch.setenv("VPCLAB_STATE", str(tmp_path / state))
        ids.add(Lab(spec, "local", say=lambda _l: None).lab_id)
    monkeypatch.delenv("VPCLAB_STATE")
    ids.add(Lab(spec, "local", say=lambda _l: None).lab_id)
    assert len(ids) == 3


def test_down_all_selects_every_vpclab_lab_and_nothing_else(tmp_path):
    """The selection of `local down --force --all`, without removing anyone else's lab."""
    require_root()
    mine = [lid("sel", tmp_path / s) for s in ("x", "y")]
    not_ours = f"vpclab-notanid-{os.getpid()}"
    made = [names.netns(mine[0], "router"), names.netns(mine[1], "web"), not_ours]
    try:
        for ns in made:
            netns.add(ns)
        selected = cleanup.all_lab_ids()
        assert set(mine) <= set(selected)
        assert all(names.LAB_ID.fullmatch(i) for i in selected)
        for lab_id in mine:
            cleanup.force_down(lab_id)
        assert not any(netns.exists(ns) for ns in made[:2])
        assert netns.exists(not_ours)  # not named like a lab: never swept
    finally:
        for lab_id in mine:
            cleanup.force_down(lab_id)
        netns.delete(not_ours)


@pytest.fixture
def one_clone(tmp_path: Path, clean_env: None, monkeypatch) -> Iterator[Lab]:
    require_root()
    spec = _clone(tmp_path / "clone")
    monkeypatch.setenv("VPCLAB_STATE", str(tmp_path / "state"))
    lab = Lab(spec, "local", say=lambda _line: None)
    lid(lab.spec.name, tmp_path / "state")
    try:
        yield lab
    finally:
        _shut(lab)


def test_switching_endpoints_across_up_down_up_needs_no_wait(one_clone, monkeypatch, tmp_path):
    said: list[str] = []
    with (
        motoserver.ephemeral(log=tmp_path / "first.log") as first,
        motoserver.ephemeral(log=tmp_path / "second.log", patched=False) as second,
    ):
        monkeypatch.setenv("AWS_ENDPOINT_URL", first.endpoint)
        lab = Lab(one_clone.spec_path, "local", say=said.append)
        lab.up(through="instances")
        first_agent = client.running(lab.local_dir)
        assert first_agent is not None and first_agent.endpoint == first.endpoint
        lab.down()

        monkeypatch.setenv("AWS_ENDPOINT_URL", second.endpoint)
        lab = Lab(one_clone.spec_path, "local", say=said.append)
        started = time.monotonic()
        lab.up(through="instances")
        elapsed = time.monotonic() - started
        agent = client.running(lab.local_dir)
        assert agent is not None and agent.endpoint == second.endpoint
        assert agent.pid != first_agent.pid
        assert f"restarting the local agent: it followed {first.endpoint}" in said
        assert elapsed < 30, f"up took {elapsed:.0f} s"  # it used to wait out 60 s and fail

        # Plain moto hands out 54.x addresses: the wire maps them, and status shows both.
        web = lab.dataplane_status().hosts["web"]
        api = labkit.ec2_client(second.endpoint).describe_instances(InstanceIds=[web.instance_id])[
            "Reservations"
        ][0]["Instances"][0]["PublicIpAddress"]
        assert web.api_public_ip == api and not api.startswith("198.51.100.")
        assert web.public_ip.startswith("198.51.100.")
        assert probe.banner(lab.lab_id, "internet", web.public_ip, 22).startswith(b"SSH-2.0")
        lab.down()


def test_a_control_plane_that_does_not_answer_is_named_within_seconds(one_clone, tmp_path):
    from vpclab.localcloud import ports

    dead = f"http://127.0.0.1:{ports.free_port()}"
    local_dir = tmp_path / "dead" / "local"
    client.start(local_dir, dead, labkit.REGION)
    try:
        started = time.monotonic()
        with pytest.raises(VpclabError, match=f"control plane at {dead} does not answer"):
            client.wait_converged(local_dir, "any", timeout=60)
        assert time.monotonic() - started < 10
    finally:
        client.stop(local_dir)


def test_an_agent_of_older_code_is_restarted(one_clone, tmp_path, monkeypatch):
    with motoserver.ephemeral(log=tmp_path / "moto.log") as server:
        local_dir = tmp_path / "old" / "local"
        pid = client.start(local_dir, server.endpoint, labkit.REGION)
        try:
            assert client.start(local_dir, server.endpoint, labkit.REGION) == pid
            monkeypatch.setattr(client, "fingerprint", lambda: "a-newer-checkout")
            said: list[str] = []
            again = client.start(local_dir, server.endpoint, labkit.REGION, say=said.append)
            assert again != pid
            assert said == ["restarting the local agent: it ran an older version of the project"]
        finally:
            client.stop(local_dir)

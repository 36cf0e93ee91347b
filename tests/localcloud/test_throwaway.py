"""vpclab.throwaway: the one throwaway lab of the tests, the benchmarks and the live notebooks
run. It serves a clone of the checkout on main, points the environment at its own state, and
leaves no namespace, agent or environment change behind, also when the body raised."""

from __future__ import annotations

import os
import subprocess

import pytest

from vpclab.localcloud import client, names, netns
from vpclab.paths import local_dir
from vpclab.throwaway import throwaway_lab


def _git(repo, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_a_throwaway_lab_serves_a_clone_on_main_and_leaves_nothing(tmp_path, data_plane):
    before = dict(os.environ)
    name = f"tw{os.getpid() % 10000}"
    with pytest.raises(RuntimeError, match="the body failed"):
        with throwaway_lab(tmp_path, name, {"scrape_interval": "3s"}) as lab:
            assert os.environ["VPCLAB_STATE"] == str(tmp_path / "state") == lab.env["VPCLAB_STATE"]
            assert "AWS_ENDPOINT_URL" not in lab.env
            assert _git(lab.project, "rev-parse", "--abbrev-ref", "HEAD") == "main"
            checkout = client.project_root()
            assert _git(lab.project, "rev-parse", "HEAD") == _git(checkout, "rev-parse", "HEAD")
            assert 'scrape_interval = "3s"' in lab.spec.read_text()
            where = local_dir(lab.spec)
            assert client.running(where) is not None
            up = lab.cli("up", "--through", "nat")
            assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
            lid = names.lab_id(name, where.parent)
            assert [n for n in netns.list_netns() if f"-{lid}-" in n]
            raise RuntimeError("the body failed")
    assert client.running(where) is None
    assert not [n for n in netns.list_netns() if f"-{lid}-" in n]
    assert dict(os.environ) == before

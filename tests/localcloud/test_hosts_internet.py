"""The internet namespace serves the project's git remote and the app's wheels to hosts."""
# ruff: noqa: F811 - fixtures imported from hosts_fixtures are requested by name

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.localcloud.hosts_fixtures import NetLab, make_client_key, netlab, state_dir  # noqa: F401 - fixtures
from vpclab.hosts.ssh import Host, known_hosts_path, open_host, pin_host_keys
from vpclab.localcloud import hostboot, internet

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES_IP = "198.51.100.1"
HOST_IP = "198.51.100.20"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("internet-cache")


@pytest.fixture
def online(
    netlab: NetLab, state_dir: Path, cache_dir: Path
) -> Iterator[tuple[internet.InternetServices, Host]]:
    """Services in the internet namespace, and a host joined to it by a veth."""
    if (
        subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("the project is not a git checkout with a commit")
    inet = netlab.ns("internet")
    netlab.link(inet, SERVICES_IP, netlab.ns("app"), HOST_IP)
    services = internet.start_services(inet, SERVICES_IP, REPO_ROOT, cache_dir)
    try:
        _, public = make_client_key(known_hosts_path(netlab.lab).parent, "lab-key")
        booted = netlab.boot("app", public)
        hostboot.wait_ssh(inet, HOST_IP, timeout=10)
        pin_host_keys(known_hosts_path(netlab.lab), HOST_IP, [booted.host_public_key])
        host = open_host(netlab.lab, HOST_IP, key_name="lab-key", name="app")
        yield services, host
        host.close()
    finally:
        services.stop()
        assert not any(p.poll() is None for p in services.procs)


def test_urls_and_pip_args(online):
    services, _ = online
    assert services.alive()
    assert services.git_url == f"git://{SERVICES_IP}/microblog_VPC_deployment.git"
    assert services.index_url == f"http://{SERVICES_IP}:8080/"
    assert services.pip_args() == [
        "--no-index",
        "--find-links",
        services.index_url,
        "--trusted-host",
        SERVICES_IP,
    ]


def test_a_host_clones_the_project_and_installs_the_apps_requirements(online):
    services, host = online
    head = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    host.run(f"git clone --quiet {services.git_url} ~/microblog")
    assert host.run("git -C ~/microblog rev-parse HEAD").stdout.strip() == head
    assert host.run("test -f ~/microblog/app/requirements.txt").ok
    # Read-only: a push is refused.
    push = host.run("cd ~/microblog && git push origin HEAD:refs/heads/intruder", check=False)
    assert push.rc != 0

    pip = " ".join(services.pip_args())
    host.run("/usr/bin/python3 -m venv ~/venv", timeout=120)
    host.run(
        f"~/venv/bin/pip install --quiet {pip} -r ~/microblog/app/requirements.txt", timeout=300
    )
    versions = host.run(
        "~/venv/bin/python -c 'import flask, gunicorn; print(flask.__name__, gunicorn.__version__)'"
    ).stdout.split()
    assert versions[0] == "flask"
    # The wheels came over HTTP from the internet namespace, not from a folder on disk.
    served = (services.cache_dir / "logs" / "wheel-index.log").read_text()
    assert f"{HOST_IP} - - " in served and "GET /flask-" in served


def test_pip_download_from_a_plain_namespace(online, netlab, tmp_path):
    services, _ = online
    dest = tmp_path / "dl"
    done = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            netlab.ns("app"),
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--isolated",
            "--no-index",
            "--find-links",
            services.index_url,
            "--trusted-host",
            SERVICES_IP,
            "-d",
            str(dest),
            "flask",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert any(p.name.startswith("flask-") for p in dest.iterdir())


def test_wheels_are_not_rebuilt_when_current(online, cache_dir):
    services, _ = online
    wheels = cache_dir / "wheels"
    before = wheels.stat().st_ino
    assert internet.build_wheels(REPO_ROOT, cache_dir) == wheels
    assert wheels.stat().st_ino == before
    services.refresh()  # fetch + stamp check: the index keeps serving the same folder
    assert wheels.stat().st_ino == before


def test_labs_share_the_machines_wheel_set(online, cache_dir, tmp_path):
    """A second lab's wheels are hard links to the same stored set: built once per machine."""
    other = tmp_path / "other-lab"
    internet.mirror_repo(REPO_ROOT, other)
    theirs = internet.build_wheels(REPO_ROOT, other)
    ours = cache_dir / "wheels"
    flask = sorted(theirs.glob("flask-*.whl"))
    assert flask and (ours / flask[0].name).stat().st_ino == flask[0].stat().st_ino
    assert flask[0].stat().st_nlink >= 3  # the store's file, ours and theirs


def test_the_store_keeps_the_recently_used_sets(tmp_path):
    for age, name in enumerate(["newest", "newer", "older", "oldest"]):
        stamp = tmp_path / name / internet.STAMP
        stamp.parent.mkdir()
        stamp.write_text(name)
        os.utime(stamp, (1_000_000 - age, 1_000_000 - age))
    (tmp_path / ".staging-1").mkdir()  # a build under way is not a set
    internet._prune(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".staging-1", "newer", "newest"]

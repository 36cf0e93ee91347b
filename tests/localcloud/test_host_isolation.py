"""The security review's escapes, tried from inside a booted host as its root: each fails.

Root inside a host is root of its own user namespace only (an unprivileged id slice on the
machine), in its own root filesystem, without CAP_SYS_ADMIN and behind a seccomp filter.
"""
# ruff: noqa: F811 - fixtures imported from hosts_fixtures are requested by name

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.localcloud.hosts_fixtures import NetLab, make_client_key, netlab, state_dir  # noqa: F401 - fixtures
from vpclab.localcloud import hostboot, hostoci

CHECKOUT = Path(__file__).resolve().parents[2]


def _in(host: hostboot.BootedHost, script: str) -> subprocess.CompletedProcess[str]:
    """A shell script run inside the host as its root (same capabilities and filter)."""
    return subprocess.run(
        host.enter_command("sh", "-c", script), capture_output=True, text=True, timeout=30
    )


@pytest.fixture
def hosts(netlab: NetLab, tmp_path: Path) -> Iterator[tuple[hostboot.BootedHost, ...]]:
    _, public = make_client_key(tmp_path)
    web = netlab.boot("web", public)
    jenkins = hostboot.boot(
        hostboot.HostSpec(
            netns=netlab.ns("jenkins"),
            host_dir=netlab.root / "hosts" / "jenkins",
            hostname="jenkins",
            authorized_key=public,
            kit=True,
        )
    )
    netlab.hosts.append(jenkins)
    yield web, jenkins


def test_root_inside_is_an_unprivileged_slice_outside(hosts):
    for host in hosts:
        done = _in(host, "id -u; cat /proc/self/uid_map")
        uid, inside, outside, size = done.stdout.split()
        assert (uid, inside, size) == ("0", "0", "65536")
        assert int(outside) >= 1 << 30
        # On the machine, the host's init runs as that id, not as root.
        assert os.stat(f"/proc/{host.sshd_pid}").st_uid == int(outside)
    assert len({_in(h, "cat /proc/self/uid_map").stdout for h in hosts}) == 2


@pytest.mark.parametrize("folder", ["/mnt", "/boot", "/", "/media"])
def test_no_write_outside_the_hosts_own_folders(hosts, folder):
    for host in hosts:
        probe = f"{folder.rstrip('/')}/vpclab-escape-{host.pid}"
        done = _in(host, f"touch {probe}")
        assert done.returncode != 0 and "Read-only file system" in done.stderr
        assert not Path(probe).exists()
    # While the host's own folders stay writable, as on a real machine.
    assert _in(hosts[0], "touch /etc/probe /opt/probe /tmp/probe /var/lib/probe").returncode == 0


def test_the_checkout_is_hidden_or_read_only(hosts):
    web, jenkins = hosts
    marker = CHECKOUT / "pyproject.toml"
    assert _in(web, f"test -e {marker}").returncode != 0  # not there at all
    assert _in(jenkins, f"test -r {marker}").returncode == 0  # the kit, for Verify
    vpclab = Path(sys.executable).parent / "vpclab"
    done = _in(jenkins, f"cd /tmp && {vpclab} --help")
    assert done.returncode == 0 and "usage" in done.stdout.lower(), done.stderr
    for script in (f"touch {CHECKOUT}/escape", f"echo x >> {marker}", f"rm {marker}"):
        done = _in(jenkins, script)
        assert done.returncode != 0, script
    assert not (CHECKOUT / "escape").exists()
    # Neither sees the state folder (the hosts' own folders and the keys live there), even
    # when it is inside the checkout.
    for host in hosts:
        assert _in(host, f"test -e {host.spec.host_dir}").returncode != 0
    state = CHECKOUT / ".vpclab"
    if state.is_dir():
        assert _in(jenkins, f"ls -A {state}").stdout.strip() == ""


def test_core_pattern_and_kernel_settings_are_read_only(hosts):
    before = Path("/proc/sys/kernel/core_pattern").read_text()
    for host in hosts:
        done = _in(host, "echo '|/tmp/pwn' > /proc/sys/kernel/core_pattern")
        assert done.returncode != 0
        done = _in(host, "echo 1 > /proc/sys/vm/drop_caches; echo b > /proc/sysrq-trigger")
        assert done.returncode != 0
        assert _in(host, "touch /sys/kernel/x").returncode != 0
    assert Path("/proc/sys/kernel/core_pattern").read_text() == before


def test_no_block_device_can_be_opened(hosts):
    dev = os.stat("/").st_dev  # the disk the machine's root is on
    major, minor = os.major(dev), os.minor(dev)
    for host in hosts:
        listed = _in(host, "ls /dev").stdout.split()
        assert "vda" not in listed and not any(d.startswith(("sd", "nvme")) for d in listed)
        made = _in(host, f"mknod /tmp/disk b {major} {minor} && head -c 512 /tmp/disk | wc -c")
        assert made.returncode != 0 or made.stdout.strip() == "0", made
        assert _in(host, "test -e /dev/vda && head -c 1 /dev/vda").returncode != 0


def test_umount_run_reaches_nothing(hosts):
    for host in hosts:
        done = _in(host, "umount /run")
        assert done.returncode != 0
        done = _in(host, "umount -l /run; ls /run")
        assert "netns" not in done.stdout.split() and "dbus" not in done.stdout.split()
        assert _in(host, "mount -t tmpfs none /mnt").returncode != 0


def test_no_other_lab_or_host_is_visible(hosts, netlab):
    web, jenkins = hosts
    for host in hosts:
        assert _in(host, "ls /run/netns").returncode != 0
        assert _in(host, "ip netns list").stdout.strip() == ""
        # Its own processes only: the machine's and the other host's are out of sight.
        pids = _in(host, "ls /proc | grep -c '^[0-9]'").stdout.strip()
        assert 0 < int(pids) < 20
        assert "pytest" not in _in(host, "ps -eo args").stdout
        # No way into another namespace: the syscalls are refused.
        assert _in(host, "unshare -U true").returncode != 0
        assert _in(host, "nsenter -t 1 -m true").returncode != 0
    assert hostoci.bundle_dir(web.spec.netns).name not in _in(jenkins, "ls /run").stdout


def test_the_machines_secrets_are_not_in_the_image(hosts):
    web, _ = hosts
    for path in hostoci_secret_paths():
        assert _in(web, f"test -e {path}").returncode != 0, path
    # The host's own host key is there, readable by its root only.
    assert _in(web, f"test -r {hostboot.HOST_KEY}").returncode == 0


def hostoci_secret_paths() -> list[str]:
    from vpclab.localcloud import hostfs

    return ["/" + str(p.relative_to("/")) for g in hostfs.SECRET_GLOBS for p in Path("/").glob(g)]


def test_a_stopped_or_lost_host_leaves_no_container_state(hosts):
    web, jenkins = hosts
    assert (hostoci.CRUN_ROOT / web.spec.netns).exists()
    assert hostoci.bundle_dir(web.spec.netns).exists()
    web.stop()
    # A host whose crun was killed (an agent that crashed) is cleaned when it is stopped.
    assert hostboot.stop_stale(jenkins.spec.host_dir)
    jenkins.stop()
    for host in hosts:
        assert not (hostoci.CRUN_ROOT / host.spec.netns).exists()
        assert not hostoci.bundle_dir(host.spec.netns).exists()
        assert not any(p.read_text() == host.spec.netns for p in hostoci.SLOT_DIR.glob("*"))

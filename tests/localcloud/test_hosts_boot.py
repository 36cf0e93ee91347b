"""A local host boots in a namespace, and the admin reaches it over SSH with pinned keys."""
# ruff: noqa: F811 - fixtures imported from hosts_fixtures are requested by name

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from tests.localcloud.hosts_fixtures import NetLab, make_client_key, netlab, state_dir  # noqa: F401 - fixtures
from vpclab.errors import VpclabError
from vpclab.hosts.ssh import (
    Host,
    known_hosts_path,
    open_host,
    parse_console_host_keys,
    pin_host_keys,
    ssh_command,
)
from vpclab.localcloud import hostboot
from vpclab.paths import keys_dir

ADMIN_IP = "198.51.100.254"
WEB_IP = "198.51.100.10"
USER_DATA = b"""#!/bin/sh
set -e
id -u > /var/lib/vpclab-ud-uid
echo ran >> /var/lib/vpclab-ud-count
echo "user data says hello"
"""


def _digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def web(netlab: NetLab, state_dir: Path) -> Iterator[tuple[hostboot.BootedHost, Host]]:
    """The internet (the admin's place) and one public host, its key pinned, a Host to it."""
    internet = netlab.ns("internet")
    netlab.link(internet, ADMIN_IP, netlab.ns("web"), WEB_IP)
    key_file, public = make_client_key(keys_dir(netlab.lab), "lab-key")
    booted = netlab.boot("web", public, USER_DATA, hostname="ip-198-51-100-10")
    hostboot.wait_ssh(internet, WEB_IP, timeout=10)
    pin_host_keys(known_hosts_path(netlab.lab), WEB_IP, [booted.host_public_key])
    host = open_host(netlab.lab, WEB_IP, key_name="lab-key", name="web")
    assert host.key_file == key_file
    yield booted, host
    host.close()


def test_login_as_ubuntu_with_pinned_key_and_passwordless_sudo(web):
    booted, host = web
    assert booted.alive()
    assert booted.sshd_pid is not None
    assert host.run("id -un").stdout.strip() == "ubuntu"
    assert host.run("id -u").stdout.strip() == "1000"
    groups = host.run("id -Gn").stdout.split()
    assert "sudo" in groups and "adm" in groups
    assert host.run("sudo -n true").ok
    assert host.run("id -u", sudo=True).stdout.strip() == "0"
    assert host.run("stat -c '%U %a' ~/.ssh ~/.ssh/authorized_keys").stdout.split() == [
        "ubuntu",
        "700",
        "ubuntu",
        "600",
    ]


def test_user_data_runs_once_as_root_and_logs(web, netlab):
    booted, host = web
    assert booted.wait_user_data(timeout=30) == 0
    assert host.run("cat /var/lib/vpclab-ud-uid").stdout.strip() == "0"
    log = host.run("cat /var/log/cloud-init-output.log").stdout
    assert "user data says hello" in log
    assert hostboot.log_path(booted.spec.host_dir).read_text() == log
    # What the host changes itself must survive a reboot (the identity is first-boot only).
    host.run("useradd -m deployer && echo 'restart me' > /etc/motd", sudo=True)
    host.run(
        "echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDeployDeployDeployDeployDeployDeployDeploy"
        " jenkins' >> ~/.ssh/authorized_keys"
    )
    host.close()

    # A reboot keeps the instance's disk, its host key and the once-only marker.
    booted.stop()
    assert not booted.alive()
    again = hostboot.boot(booted.spec)
    netlab.hosts.append(again)
    assert again.host_public_key == booted.host_public_key
    hostboot.wait_ssh(netlab.ns("internet"), WEB_IP, timeout=10)
    again.wait_user_data(timeout=30)
    assert host.run("cat /var/lib/vpclab-ud-count").stdout.split() == ["ran"]
    assert host.run("id -u deployer").ok
    assert host.run("cat /etc/motd").stdout == "restart me\n"
    assert "jenkins" in host.run("cat ~/.ssh/authorized_keys").stdout
    assert host.run("sudo -n true").ok


def test_host_writes_never_touch_the_real_files(web):
    booted, host = web
    real = {
        p: _digest(p)
        for p in (
            "/etc/passwd",
            "/etc/shadow",
            "/etc/group",
            "/etc/hostname",
            "/etc/hosts",
            "/etc/sudoers",
        )
    }
    probe = f"vpclab-probe-{booted.pid}"
    host.run(
        f"echo '# {probe}' >> /etc/hosts; touch /etc/{probe} /usr/local/bin/{probe} "
        f"/var/lib/{probe} /opt/{probe} /tmp/{probe}",
        sudo=True,
    )
    assert probe in host.run("cat /etc/hosts").stdout
    for p, digest in real.items():
        assert _digest(p) == digest, p
    for folder in ("/etc", "/usr/local/bin", "/var/lib", "/opt", "/tmp"):
        assert not Path(folder, probe).exists(), folder
    h = booted.spec.host_dir
    assert (h / "upper/etc" / probe).exists()
    assert (h / "upper/usr/local/bin" / probe).exists()
    assert (h / "tmp" / probe).exists()
    # The host's own accounts exist only in its view.
    assert "ubuntu:x:1000:1000" in host.run("getent passwd ubuntu").stdout
    assert "ubuntu:x:1000" not in Path("/etc/passwd").read_text()


def test_hostname_is_the_hosts_own(web):
    _, host = web
    assert host.run("hostname").stdout.strip() == "ip-198-51-100-10"
    assert socket.gethostname() != "ip-198-51-100-10"
    assert "ip-198-51-100-10" in host.run("getent hosts ip-198-51-100-10").stdout


def test_password_login_is_off(web):
    _, host = web
    transport = paramiko.Transport(host._open_socket())
    try:
        transport.start_client(timeout=10)
        with pytest.raises(paramiko.BadAuthenticationType) as info:
            transport.auth_password("ubuntu", "ubuntu")
        assert info.value.allowed_types == ["publickey"]
    finally:
        transport.close()
    settings = host.run("sshd -T", sudo=True).stdout
    assert "passwordauthentication no" in settings
    assert "kbdinteractiveauthentication no" in settings
    assert f"hostkey {hostboot.HOST_KEY}" in settings


def test_a_wrong_host_key_is_rejected(web, netlab, tmp_path):
    _, host = web
    _, other_public = make_client_key(tmp_path, "impostor")
    wrong = tmp_path / "wrong_known_hosts"
    pin_host_keys(wrong, WEB_IP, [other_public])
    impostor = Host(
        WEB_IP, key_file=host.key_file, known_hosts=wrong, netns=netlab.ns("internet"), name="web"
    )
    with pytest.raises(VpclabError, match="does not match the pinned one"):
        impostor.connect()

    unpinned = tmp_path / "empty_known_hosts"
    unpinned.write_text("")
    stranger = Host(
        WEB_IP,
        key_file=host.key_file,
        known_hosts=unpinned,
        netns=netlab.ns("internet"),
        name="web",
    )
    with pytest.raises(VpclabError, match="no pinned host key"):
        stranger.connect()


def test_console_log_carries_the_host_key_block(web):
    booted, _ = web
    keys = parse_console_host_keys(booted.console_output())
    assert keys == [" ".join(booted.host_public_key.split()[:2])]


def test_run_failure_names_the_command_and_stderr(web):
    _, host = web
    with pytest.raises(VpclabError) as info:
        host.run("echo doomed >&2; exit 3")
    assert "exit 3" in str(info.value) and "doomed" in str(info.value)
    assert host.run("exit 4", check=False).rc == 4
    assert host.run("cat", input="piped").stdout == "piped"
    assert host.run('echo "$GREETING"', env={"GREETING": "hi there"}).stdout == "hi there\n"


def test_files_go_both_ways(web, tmp_path):
    _, host = web
    src = tmp_path / "conf"
    src.write_text("server {}\n")
    host.put(src, "/home/ubuntu/conf", mode=0o640)
    assert host.run("stat -c %a /home/ubuntu/conf").stdout.strip() == "640"
    host.put_text("root only\n", "/etc/vpclab/secret.env", 0o600, sudo=True)
    assert host.run("stat -c '%U %a' /etc/vpclab/secret.env", sudo=True).stdout.split() == [
        "root",
        "600",
    ]
    assert host.read_text("/etc/vpclab/secret.env", sudo=True) == "root only\n"
    host.put_text("x", "/home/ubuntu/owned", 0o644, owner="www-data:www-data")
    assert host.run("stat -c %U /home/ubuntu/owned").stdout.strip() == "www-data"
    back = host.get("/home/ubuntu/conf", tmp_path / "back")
    assert back.read_text() == "server {}\n"
    with pytest.raises(VpclabError, match="cannot write /etc/nope"):
        host.put_text("x", "/etc/nope")


def test_system_ssh_uses_the_same_pins(web, netlab, tmp_path):
    _, host = web
    argv = ssh_command(
        netlab.lab, "web", address=WEB_IP, key_name="lab-key", batch=True, command=["hostname"]
    )
    assert argv[:4] == ["ip", "netns", "exec", netlab.ns("internet")]
    assert "StrictHostKeyChecking=yes" in argv
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ip-198-51-100-10"

    # A different pinned key makes the system ssh refuse as well.
    _, other_public = make_client_key(tmp_path, "impostor")
    pin_host_keys(known_hosts_path(netlab.lab), WEB_IP, [other_public])
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )
    assert done.returncode != 0
    assert "HOST IDENTIFICATION HAS CHANGED" in done.stderr


def _pidns_members(pidns: str) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "ns" / "pid") == pidns:
                    members.append(int(entry.name))
            except OSError:
                pass
    return members


def test_background_work_outlives_the_session_and_stop_ends_it_all(web):
    booted, host = web
    pidns = os.readlink(f"/proc/{booted.sshd_pid}/ns/pid")
    start = time.monotonic()
    host.run("cd /tmp; nohup sleep 300 >/tmp/bg.log 2>&1 </dev/null &")
    host.run("cd /tmp; nohup sh -c 'sleep 0.1' >/dev/null 2>&1 </dev/null &")
    assert time.monotonic() - start < 5  # the channel closed: nothing held it open
    host.close()
    time.sleep(0.5)
    assert "sleep 300" in host.run("ps -eo args").stdout
    # Orphans are reparented to the host's PID 1 (sshd), which reaps them.
    assert "Z" not in host.run("ps -eo stat=").stdout.split()
    host.close()
    assert len(_pidns_members(pidns)) >= 2

    booted.stop()
    assert not booted.alive()
    assert _pidns_members(pidns) == []
    booted.stop()  # twice is fine


def test_a_lost_host_is_found_and_stopped_from_its_folder(web):
    booted, host = web
    host.close()
    assert (booted.spec.host_dir / "host.pid").exists()
    assert hostboot.stop_stale(booted.spec.host_dir)
    booted.process.wait(5)
    assert not (booted.spec.host_dir / "host.pid").exists()
    assert not hostboot.stop_stale(booted.spec.host_dir)


def test_an_interactive_terminal_works(web):
    _, host = web
    chan = host.transport.open_session()
    try:
        chan.get_pty(term="xterm", width=80, height=24)
        chan.exec_command("tty")
        assert chan.recv_exit_status() == 0
        assert chan.recv(1024).decode().strip().startswith("/dev/pts/")
    finally:
        chan.close()


def test_the_agent_can_enter_a_running_host(web):
    booted, _ = web
    done = subprocess.run(
        booted.enter_command("hostname"), capture_output=True, text=True, timeout=10
    )
    assert done.stdout.strip() == "ip-198-51-100-10"
    done = subprocess.run(
        booted.enter_command("sh", "-c", "id -un; test -d /run/sshd"),
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert done.returncode == 0 and done.stdout.strip() == "root"


@pytest.mark.parametrize(
    ("user_data", "status", "logged"),
    [
        (b"#!/bin/bash\necho about to fail\nexit 7\n", 7, "about to fail"),
        (b"#cloud-config\npackages: [nginx]\n", 0, "not a shell script"),
    ],
)
def test_user_data_status_and_formats(netlab, tmp_path, user_data, status, logged):
    _, public = make_client_key(tmp_path)
    booted = netlab.boot("web", public, user_data)
    assert booted.wait_user_data(timeout=30) == status
    log = hostboot.log_path(booted.spec.host_dir).read_text()
    assert logged in log and f"exit status {status}" in log

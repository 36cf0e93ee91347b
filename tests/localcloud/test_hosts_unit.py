"""Host access pieces that need no root: key pinning, console parsing, ssh argv."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
from pathlib import Path

import pytest

from tests.localcloud.hosts_fixtures import make_client_key
from vpclab.errors import VpclabError
from vpclab.hosts.ssh import (
    Host,
    known_hosts_path,
    parse_console_host_keys,
    pin_host_keys,
    pinned_host_keys,
    ssh_command,
)
from vpclab.localcloud import hostfs, names, procfs
from vpclab.localcloud.netns_socket import run_in

ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHrVR0fN8a0wJ1JwT1o3jBvV3d4w3ZbbL2w0ZrFq9xYz"
ECDSA = (
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFakeFakeFak"
    "eFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFak"
    "eFakeFakeFakeFakeFakeFak="
)

AWS_CONSOLE = f"""[    5.104] cloud-init[512]: Cloud-init v. 24.1 running 'modules:config'
ec2: #############################################################
ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----
ec2: 256 SHA256:abc root@ip-10-0-1-10 (ED25519)
ec2: -----END SSH HOST KEY FINGERPRINTS-----
ec2: #############################################################
-----BEGIN SSH HOST KEY KEYS-----\r
{ECDSA} root@ip-10-0-1-10\r
{ED} root@ip-10-0-1-10\r
-----END SSH HOST KEY KEYS-----\r
[   12.000] cloud-init[900]: Cloud-init v. 24.1 finished
"""


def test_console_host_keys_are_parsed_without_comments():
    assert parse_console_host_keys(AWS_CONSOLE) == [" ".join(ECDSA.split()[:2]), ED]


def test_console_takes_the_last_boots_block_and_tolerates_prefixes():
    second = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
    text = AWS_CONSOLE + (
        "ec2: -----BEGIN SSH HOST KEY KEYS-----\n"
        f"ec2: {second} root@x\n"
        "ec2: -----END SSH HOST KEY KEYS-----\n"
    )
    assert parse_console_host_keys(text) == [second]
    assert parse_console_host_keys("booting...\n") == []
    # An unfinished block (output still coming) is not trusted.
    assert parse_console_host_keys("-----BEGIN SSH HOST KEY KEYS-----\n" + ED + "\n") == []


def test_pinning_replaces_a_hosts_keys_and_keeps_the_others(tmp_path):
    known = tmp_path / "keys" / "known_hosts"
    pin_host_keys(known, "198.51.100.10", [ED + " root@web"])
    pin_host_keys(known, "10.0.2.10", [ED])
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"
    pin_host_keys(known, "198.51.100.10", [other])
    assert pinned_host_keys(known, "198.51.100.10") == [other]
    assert pinned_host_keys(known, "10.0.2.10") == [ED]
    pin_host_keys(known, "127.0.0.1", [ED], port=2222)
    assert "[127.0.0.1]:2222 ssh-ed25519" in known.read_text()
    assert pinned_host_keys(known, "127.0.0.1") == []


def test_pinning_refuses_garbage(tmp_path):
    known = tmp_path / "known_hosts"
    with pytest.raises(VpclabError, match="not an SSH public key"):
        pin_host_keys(known, "10.0.0.1", ["hello world"])
    with pytest.raises(VpclabError, match="bad base64"):
        pin_host_keys(known, "10.0.0.1", ["ssh-ed25519 AAA$"])
    with pytest.raises(VpclabError, match="no host key to pin"):
        pin_host_keys(known, "10.0.0.1", [])
    assert not known.exists()


def test_ssh_command_locally_runs_in_the_internet_namespace(tmp_path, monkeypatch):
    monkeypatch.setenv("VPCLAB_STATE", str(tmp_path))
    key, _ = make_client_key(known_hosts_path("lab1").parent, "lab1-key")
    argv = ssh_command("lab1", "web", address="198.51.100.10", key_name="lab1-key")
    internet = names.netns(names.lab_id("lab1", tmp_path), "internet")
    assert argv[:5] == ["ip", "netns", "exec", internet, "ssh"]
    assert "ConnectTimeout=5" in argv  # a blocked path fails in seconds
    assert argv[-1] == "ubuntu@198.51.100.10"
    assert f"UserKnownHostsFile={known_hosts_path('lab1')}" in argv
    assert "StrictHostKeyChecking=yes" in argv
    assert str(key) in argv
    checking = [a for a in argv if a.startswith("StrictHostKeyChecking")]
    assert checking == ["StrictHostKeyChecking=yes"]


def test_ssh_command_to_the_app_jumps_with_the_same_pins(tmp_path, monkeypatch):
    monkeypatch.setenv("VPCLAB_STATE", str(tmp_path))
    make_client_key(known_hosts_path("lab1").parent, "lab1-key")
    argv = ssh_command(
        "lab1",
        "app",
        address="10.0.2.10",
        jump="198.51.100.7",
        key_name="lab1-key",
        local=False,
        command=["uptime"],
    )
    assert argv[0] == "ssh" and argv[-3:] == ["ubuntu@10.0.2.10", "--", "uptime"]
    proxy = next(a for a in argv if a.startswith("ProxyCommand="))
    hop = shlex.split(proxy.removeprefix("ProxyCommand="))
    assert hop[0] == "ssh" and hop[-3:] == ["-W", "%h:%p", "ubuntu@198.51.100.7"]
    assert "StrictHostKeyChecking=yes" in hop
    assert any(a.startswith("ConnectTimeout=") for a in hop)
    assert f"UserKnownHostsFile={known_hosts_path('lab1')}" in hop


def test_ssh_command_needs_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("VPCLAB_STATE", str(tmp_path))
    with pytest.raises(VpclabError, match="private key .* is missing"):
        ssh_command("lab1", "web", address="198.51.100.10", key_name="nope")


def test_host_errors_are_one_line_with_a_fix(tmp_path):
    key, _ = make_client_key(tmp_path)
    host = Host(
        "198.51.100.10", key_file=tmp_path / "missing.pem", known_hosts=tmp_path / "known_hosts"
    )
    with pytest.raises(VpclabError, match="private key .* is missing"):
        host.connect()
    host = Host("198.51.100.10", key_file=key, known_hosts=tmp_path / "known_hosts")
    with pytest.raises(VpclabError, match="no pinned host keys"):
        host.connect()


def _host_at(server: socket.socket, tmp_path: Path) -> Host:
    """A Host whose address is a listening loopback socket (no SSH server behind it)."""
    return Host(
        "127.0.0.1",
        port=server.getsockname()[1],
        key_file=tmp_path / "key",
        known_hosts=tmp_path / "known_hosts",
    )


def test_an_ssh_connection_has_nagle_off(tmp_path):
    """A command's round trip was about 48 ms with Nagle's algorithm on, 8 ms off (a lab's web
    server, 20 runs of `true`): one small packet waited for the server's delayed ACK."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        with _host_at(server, tmp_path)._open_socket() as sock:
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_an_ssh_connection_acks_what_it_reads_at_once(tmp_path):
    """sshd keeps Nagle's algorithm on for a command without a terminal: its reply's last
    packets waited for our delayed ACK (`sudo cat` of a small file through the jump host:
    82 ms, 18 ms with quick ACKs)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        with _host_at(server, tmp_path)._open_socket() as sock, server.accept()[0] as peer:
            sock.settimeout(5)
            for _ in range(3):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
                peer.sendall(b"SSH-2.0-reply\r\n")
                assert sock.recv(64) == b"SSH-2.0-reply\r\n"
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) == 1


def test_host_folders_under_covered_trees_are_refused():
    for bad in ("/etc/vpclab/h", "/var/lib/vpclab/h", "/usr/h", "/run/h"):
        with pytest.raises(VpclabError, match="every host sees or the runtime owns"):
            hostfs.check_host_dir(Path(bad))
    hostfs.check_host_dir(Path("/tmp/vpclab/hosts/lab/web"))
    hostfs.check_host_dir(Path("/root/project/.vpclab/local/hosts/lab/web"))


def test_run_in_without_a_namespace_calls_directly():
    assert run_in(None, lambda: 42) == 42


def test_run_in_a_missing_namespace_is_a_clear_error():
    with pytest.raises(VpclabError, match="does not exist"):
        run_in("vpclab-no-such-lab-internet", lambda: 1)


def test_a_host_counts_as_booted_only_once_a_socket_listens():
    """hostboot waits for sshd's listening socket in the host's own /proc/PID/net/tcp: a
    connected or closed socket on the port is not enough."""

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        assert not procfs.listening(os.getpid(), port)  # bound, not listening
        server.listen()
        assert procfs.listening(os.getpid(), port)
    assert not procfs.listening(os.getpid(), port)
    assert not procfs.listening(2**22 + 1, port)  # no such process


def test_only_the_process_holding_the_listener_counts_as_the_server():
    """motoserver waits until its own child holds the listening socket: another process
    listening on the port (it took it once freed) does not count."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        server.listen()
        assert procfs.holds_listener(os.getpid(), port)
        other = subprocess.Popen(["sleep", "30"])
        try:
            assert not procfs.holds_listener(other.pid, port)
        finally:
            other.kill()
            other.wait()
    assert not procfs.holds_listener(os.getpid(), port)
    assert not procfs.holds_listener(2**22 + 1, port)

"""Namespaces, keys and booted hosts for the host tests, each removed by a finalizer.

Everything lives in namespaces named for a test-only lab (unique per run, so a parallel run
elsewhere on the machine never clashes); nothing is added to the root namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from vpclab.aws import keypairs
from vpclab.localcloud import hostboot, names, netns

TEST_LAB = f"th{os.getpid() % 100000}"


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces, mounts and a host's sshd")
    reason = netns.unsupported_reason()
    if reason:
        pytest.skip(reason)
    for tool in ("ip", "unshare", hostboot.SSHD):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True)


def mac_for(ip: str) -> str:
    # Derived from the IP, so a reused address never meets a stale ARP entry.
    return "02:00:" + ":".join(f"{int(b):02x}" for b in ip.split("."))


def make_client_key(folder: Path, name: str = "lab-key") -> tuple[Path, str]:
    """An ed25519 key pair: the private key as `<name>.pem` (0600) and the public line."""
    public = keypairs.generate(folder, name).rsplit(" ", 1)[0]
    return keypairs.private_key_path(folder, name), public


class NetLab:
    """A test lab's namespaces, links, hosts and processes; `cleanup` removes them all."""

    def __init__(self, lab: str, root: Path, state: Path) -> None:
        self.lab = lab
        self.lid = names.lab_id(lab, state)  # as the lab's own state folder names it
        self.root = root
        self.namespaces: list[str] = []
        self.hosts: list[hostboot.BootedHost] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self._links = 0

    def ns(self, role: str) -> str:
        name = names.netns(self.lid, role)
        if name in self.namespaces:
            return name
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def link(self, a: str, a_ip: str, b: str, b_ip: str, prefix: int = 24) -> None:
        """A veth pair made straight inside the two namespaces (never in the root one)."""
        self._links += 1
        end_a = names.ifname(self.lid, f"l{self._links}a")
        end_b = names.ifname(self.lid, f"l{self._links}b")
        sh(
            "ip",
            "link",
            "add",
            end_a,
            "netns",
            a,
            "address",
            mac_for(a_ip),
            "type",
            "veth",
            "peer",
            "name",
            end_b,
            "netns",
            b,
            "address",
            mac_for(b_ip),
        )
        for ns, end, ip in ((a, end_a, a_ip), (b, end_b, b_ip)):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/{prefix}", "dev", end)
            sh("ip", "-n", ns, "link", "set", end, "up")

    def boot(
        self,
        role: str,
        public_key: str,
        user_data: bytes | None = None,
        hostname: str | None = None,
    ) -> hostboot.BootedHost:
        spec = hostboot.HostSpec(
            netns=self.ns(role),
            host_dir=self.root / "hosts" / role,
            hostname=hostname or role,
            authorized_key=public_key,
            user_data=user_data,
        )
        host = hostboot.boot(spec)
        self.hosts.append(host)
        return host

    def track(self, proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        self.procs.append(proc)
        return proc

    def cleanup(self) -> None:
        errors = []
        for host in self.hosts:
            try:
                host.stop()
            except Exception as exc:  # keep cleaning; report at the end
                errors.append(exc)
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        for name in reversed(self.namespaces):
            result = subprocess.run(["ip", "netns", "delete", name], capture_output=True)
            if result.returncode != 0:
                errors.append(RuntimeError(f"ip netns delete {name}: {result.stderr!r}"))
        left = [n for n in _list_netns() if n.startswith(names.netns(self.lid, ""))]
        if left or errors:
            raise RuntimeError(f"cleanup left {left} / errors {errors}")


def _list_netns() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


@pytest.fixture
def netlab(tmp_path: Path, state_dir: Path) -> Iterator[NetLab]:
    require_root()
    lab = NetLab(TEST_LAB, tmp_path, state_dir)
    try:
        yield lab
    finally:
        lab.cleanup()


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private state folder, so keys and pins never land in the developer's own."""
    state = tmp_path / "state"
    monkeypatch.setenv("VPCLAB_STATE", str(state))
    return state

"""Boot-to-login time of a local host: from `hostboot.boot` to an authenticated paramiko
session as `ubuntu` with the host key pinned. Needs root.

    python benchmarks/bench_hosts.py [--boots 10]

Reports the median over first boots (a fresh host folder: accounts, host key, /var/log
tree) and over reboots (the same folder again, as after a stop/start).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vpclab.hosts.ssh import Host, pin_host_keys
from vpclab.keygen import new_ed25519
from vpclab.localcloud import hostboot, names
from vpclab.paths import write_private

LAB = f"bench{os.getpid() % 10000}"
ADMIN_IP, HOST_IP = "198.51.100.254", "198.51.100.10"


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def one_boot(spec: hostboot.HostSpec, admin_ns: str, key: Path, known: Path) -> float:
    start = time.perf_counter()
    booted = hostboot.boot(spec)
    try:
        hostboot.wait_ssh(admin_ns, HOST_IP, timeout=10)
        pin_host_keys(known, HOST_IP, [booted.host_public_key])
        host = Host(HOST_IP, key_file=key, known_hosts=known, netns=admin_ns)
        host.connect()
        elapsed = time.perf_counter() - start
        host.close()
        return elapsed
    finally:
        booted.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boots", type=int, default=10)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("skipped: needs root (namespaces, mounts, sshd)")
        return 0
    admin_ns, host_ns = names.netns(LAB, "internet"), names.netns(LAB, "web")
    made: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vpclab-bench-") as tmp:
        try:
            for ns in (admin_ns, host_ns):
                sh("ip", "netns", "add", ns)
                made.append(ns)
                sh("ip", "-n", ns, "link", "set", "lo", "up")
            a, b = names.ifname(LAB, "ba"), names.ifname(LAB, "bb")
            sh(
                "ip",
                "link",
                "add",
                a,
                "netns",
                admin_ns,
                "type",
                "veth",
                "peer",
                "name",
                b,
                "netns",
                host_ns,
            )
            for ns, dev, ip in ((admin_ns, a, ADMIN_IP), (host_ns, b, HOST_IP)):
                sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
                sh("ip", "-n", ns, "link", "set", dev, "up")

            client = new_ed25519()
            key = Path(tmp, "key.pem")
            write_private(key, client.private_pem)
            public = client.public
            known = Path(tmp, "known_hosts")

            def spec(i: int) -> hostboot.HostSpec:
                return hostboot.HostSpec(
                    netns=host_ns,
                    host_dir=Path(tmp, f"host{i}"),
                    hostname="web",
                    authorized_key=public,
                )

            one_boot(spec(-1), admin_ns, key, known)  # warm the page cache
            first = [one_boot(spec(i), admin_ns, key, known) for i in range(args.boots)]
            again = [one_boot(spec(0), admin_ns, key, known) for _ in range(args.boots)]
        finally:
            for ns in reversed(made):
                subprocess.run(["ip", "netns", "delete", ns], check=False)
    for label, runs in (("first boot", first), ("reboot", again)):
        print(
            f"{label:10} boot-to-login over {len(runs)}: median {statistics.median(runs):.3f} s"
            f"  min {min(runs):.3f}  max {max(runs):.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

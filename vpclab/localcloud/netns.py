"""Network namespaces and links, by shelling out to `ip` (pyroute2 is not a dependency).

Every link is created directly inside a lab's namespaces (`ip link add ... netns A type veth
peer ... netns B`), so the root namespace never gets an address, a route or a link from us.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from vpclab.errors import VpclabError
from vpclab.localcloud import broker, procfs

NETNS_DIR = Path("/run/netns")


class CommandError(RuntimeError):
    """An `ip`/`nft` command failed: carries the command and its stderr."""


def run(args: list[str], input: str | None = None, check: bool = True) -> str:
    proc = subprocess.run(args, input=input, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise CommandError(f"{' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def unsupported_reason() -> str | None:
    """Why this machine cannot run the data plane, or None when it can (a jailed kernel's
    grader runs it, and makes its sockets: see `broker`)."""
    if broker.path():
        return None
    if not sys.platform.startswith("linux"):
        return f"the local data plane needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return "the local data plane needs root (network namespaces, nftables)"
    for tool in ("ip", "nft", "unshare"):
        if shutil.which(tool) is None:
            return f"the '{tool}' command is missing (install iproute2, nftables, util-linux)"
    from vpclab.localcloud import hostoci  # hosts are containers: Linux and crun versions

    return hostoci.unsupported_reason()


def require_support() -> None:
    reason = unsupported_reason()
    if reason:
        raise VpclabError(reason, "run as root on Linux (e.g. 'sudo make lab')")


def list_netns() -> list[str]:
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir())
    except FileNotFoundError:
        return []


def exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def inode(name: str) -> int | None:
    """The namespace's inode: it tells a namespace from a new one of the same name."""
    try:
        return (NETNS_DIR / name).stat().st_ino
    except OSError:
        return None


def pids(name: str) -> list[int]:
    """Processes whose network namespace is `name` (what `ip netns pids` reports)."""
    if not exists(name):
        return []
    out = run(["ip", "netns", "pids", name], check=False)
    return [int(p) for p in out.split() if p.isdigit()]


def kill_pids(found: Iterable[int]) -> list[int]:
    """SIGKILL the given processes (found through our namespaces) and wait for them to go."""
    killed = []
    for pid in found:
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 3
    for pid in killed:
        while time.monotonic() < deadline and _running(pid):
            time.sleep(0.01)
    return killed


def _running(pid: int) -> bool:
    try:  # reap it first if it is our own child
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return procfs.running(pid)


def add(name: str) -> None:
    """Create a fresh namespace with loopback up (an existing one is replaced)."""
    if exists(name):
        delete(name)
    run(["ip", "netns", "add", name])
    run(["ip", "-n", name, "link", "set", "lo", "up"])


def delete(name: str) -> None:
    """Kill every process inside, then delete the namespace (and with it its links)."""
    if not exists(name):
        return
    kill_pids(pids(name))
    run(["ip", "netns", "del", name], check=False)


def batch(name: str, commands: list[str], force: bool = False) -> None:
    """Run many `ip` commands in one process inside a namespace (much faster than one each)."""
    if not commands:
        return
    args = ["ip", "-n", name] + (["-force"] if force else []) + ["-batch", "-"]
    run(args, input="\n".join(commands) + "\n", check=not force)


def exec_in(name: str, args: list[str], input: str | None = None, check: bool = True) -> str:
    return run(["ip", "netns", "exec", name, *args], input=input, check=check)


def veth(ns_a: str, if_a: str, ns_b: str, if_b: str, mac_b: str | None = None) -> None:
    """A veth pair whose ends are born in two namespaces."""
    args = [
        "ip",
        "link",
        "add",
        "name",
        if_a,
        "netns",
        ns_a,
        "type",
        "veth",
        "peer",
        "name",
        if_b,
        "netns",
        ns_b,
    ]
    if mac_b:
        args[-2:-2] = ["address", mac_b]
    run(args)


def host_mac(ip: str) -> str:
    """02:00 plus the IP's four bytes: a reused IP keeps its MAC, so peers' ARP stays right."""
    return "02:00:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


def gateway_mac(ip: str) -> str:
    return "02:01:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


def link_names_root() -> list[str]:
    """Links of the root namespace (to sweep any stray one of a lab)."""
    out = run(["ip", "-o", "link", "show"], check=False)
    return [
        line.split(":", 2)[1].strip().split("@")[0]
        for line in out.splitlines()
        if line.count(":") >= 2
    ]

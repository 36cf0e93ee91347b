"""A submission's kernel in a jail: a throwaway unprivileged uid made for it (no account: a
free uid), in a mount namespace of its own where the reference, the kit's solutions and
history, and the other submissions are empty, unreadable folders, and where /proc shows no
other user's process.

The grading runner (root) launches each kernel as
`unshare --mount --propagation private -- python -m vpclab.course.jail ... -- KERNEL ARGV`;
this module, still root inside the new namespace, hides the paths, hands the kernel its
connection file, drops to the uid for good and execs the kernel. The kernel reaches moto
through the grader's relay on loopback, and can write only its work and state folders."""

from __future__ import annotations

import argparse
import ctypes
import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from vpclab.localcloud import broker

PR_SET_NO_NEW_PRIVS = 38
FIRST_UID = 200_000  # far above any account's uid


def unsupported_reason() -> str | None:
    """Why kernels cannot be jailed here, or None."""
    if not sys.platform.startswith("linux"):
        return "jailing a kernel needs Linux"
    if os.geteuid() != 0:
        return "jailing a kernel needs root"
    for tool in ("unshare", "nft"):
        if not shutil.which(tool):
            return f"jailing a kernel needs {tool} (util-linux, nftables)"
    return None


def free_uid(start: int = FIRST_UID) -> int:
    """A uid no account uses, from this process' id (two graders running side by side pick
    different ones)."""
    uid = start + os.getpid() % 100_000
    while True:
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
        uid += 1


@dataclass(frozen=True)
class Jail:
    uid: int
    home: Path  # the kernel's HOME (its IPython and matplotlib folders), owned by uid
    hide: list[Path] = field(default_factory=list)  # empty and unreadable inside
    broker: Path | None = None  # with hosts: where the kernel asks for its lab's sockets

    def prefix(self, connection_file: str) -> list[str]:
        """argv to put before the kernel's own."""
        argv = ["unshare", "--mount", "--propagation", "private", "--"]
        argv += [sys.executable, "-m", "vpclab.course.jail", "--uid", str(self.uid)]
        argv += ["--home", str(self.home), "--connection-file", connection_file]
        for path in self.hide:
            argv += ["--hide", str(path)]
        return [*argv, "--"]

    def give(self, *paths: Path, but: Path | None = None) -> None:
        """Make `paths` (recursively) the jailed user's, except the folder `but`."""
        for path in paths:
            for root, dirs, files in os.walk(path):
                dirs[:] = [d for d in dirs if but is None or Path(root, d) != but]
                for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                    os.lchown(name, self.uid, self.uid)

    def fence(self, relay_port: int) -> None:
        fence(self.uid, relay_port)

    def unfence(self) -> None:
        unfence(self.uid)

    def environment(self) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "IPYTHONDIR": str(self.home / ".ipython"),
            "MPLCONFIGDIR": str(self.home / ".matplotlib"),
            "USER": "vpclab-student",
            **({broker.BROKER_ENV: str(self.broker)} if self.broker else {}),
        }

    def broker_for(self, lab_id: str) -> broker.Broker:
        """The kernel's doorway into the namespaces of lab `lab_id`, and no other's."""
        from vpclab.localcloud import client, names, netns_socket

        assert self.broker is not None
        return broker.Broker(
            self.broker,
            self.uid,
            lambda ns: names.id_of_netns(ns) == lab_id,
            netns_socket.socket_in,
            client.is_agent,
        )


def _table(uid: int) -> str:
    return f"vpclab_grade_{uid}"


def fence(uid: int, allowed_port: int) -> None:
    """The jailed user may open TCP connections on this machine to `allowed_port` (the
    grader's relay) only: moto itself, the other labs and the grader's services are shut to
    it. (Its kernel only listens; the grader connects to it.)"""
    # Declared, deleted and made again in one transaction: a table left by a killed grader
    # with the same uid is replaced, never doubled.
    rules = f"""table inet {_table(uid)} {{}}
delete table inet {_table(uid)}
table inet {_table(uid)} {{
    chain out {{
        type filter hook output priority 0; policy accept;
        meta skuid {uid} ct state new tcp dport != {allowed_port} reject with tcp reset
        meta skuid {uid} ct state new meta l4proto udp reject
    }}
}}
"""
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)


def unfence(uid: int) -> None:
    subprocess.run(
        ["nft", "delete", "table", "inet", _table(uid)], capture_output=True, check=False
    )


def _hide(path: Path) -> None:
    if path.is_dir():
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4k,mode=000,ro", "vpclab-hidden", str(path)],
            check=True,
        )
    elif path.exists():
        subprocess.run(["mount", "--bind", "-o", "ro", os.devnull, str(path)], check=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uid", type=int, required=True)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--connection-file", required=True)
    parser.add_argument("--hide", type=Path, action="append", default=[])
    parser.add_argument("kernel", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    kernel = [a for a in args.kernel if a != "--"]
    # The kernel reads its connection file as the uid: a copy of its own.
    mine = args.home / "kernel.json"
    shutil.copyfile(args.connection_file, mine)
    os.chown(mine, args.uid, args.uid)
    os.chmod(mine, 0o600)
    kernel = [str(mine) if a == args.connection_file else a for a in kernel]
    for path in args.hide:
        _hide(path)
    # Its own /proc, where other users' processes (the grader's argv and environment) do
    # not show.
    subprocess.run(["mount", "-t", "proc", "-o", "hidepid=2", "proc", "/proc"], check=True)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    os.setgroups([])
    os.setgid(args.uid)
    os.setuid(args.uid)
    os.execv(kernel[0], kernel)


if __name__ == "__main__":
    main()

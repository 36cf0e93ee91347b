"""The agent's hand-over: what an agent that exits for new code leaves to the next one, so the
next one adopts the running hosts instead of rebuilding them.

The old agent writes it (SIGUSR1, see `daemon`) and exits without stopping anything; the new
one takes it once at start. It is a claim, not a fact: every process in it is checked again
(`ProcRef.check`) before it is trusted, and whatever fails is rebuilt.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from vpclab.localcloud import netns, procfs
from vpclab.localcloud.dataplane import HostPlan, SubnetPlan
from vpclab.localcloud.files import atomic_write
from vpclab.localcloud.orphans import ProcRef

HANDOVER_FILE = "handover.json"


@dataclass(frozen=True)
class HostRecord:
    plan: HostPlan
    host_dir: str
    hostname: str
    kit: bool
    host_public_key: str
    crun: ProcRef  # the container's `crun run`
    init: ProcRef  # the host's PID 1 (sshd), crun's child
    netns_inode: int

    def check(self) -> str | None:
        """Why this host cannot be adopted, or None: its namespace is the recorded one, and
        its crun and init are the recorded processes, init inside that namespace."""
        inode = netns.inode(self.plan.netns)
        if inode != self.netns_inode:
            return f"namespace {self.plan.netns} is gone or was made again"
        why = self.crun.check() or self.init.check()
        if why:
            return why
        current = procfs.stat(self.init.pid)
        if current is None or current.ppid != self.crun.pid:
            return f"process {self.init.pid} is no longer the child of crun {self.crun.pid}"
        if procfs.netns_inode(self.init.pid) != inode:
            return f"process {self.init.pid} is not in namespace {self.plan.netns}"
        return None


@dataclass(frozen=True)
class ServicesRecord:
    """The internet namespace's git daemon and wheel index (`internet.InternetServices`)."""

    address: str
    git_url: str
    index_url: str
    repo_root: str
    cache_dir: str
    served_head: str | None
    procs: tuple[ProcRef, ...]

    def check(self, netns_name: str) -> str | None:
        inode = netns.inode(netns_name)
        for proc in self.procs:
            why = proc.check()
            if why:
                return why
            if procfs.netns_inode(proc.pid) != inode:
                return f"process {proc.pid} is not in namespace {netns_name}"
        return None


@dataclass(frozen=True)
class LabRecord:
    lab: str
    lab_id: str
    bridges: tuple[SubnetPlan, ...]
    public: dict[str, str]  # instance or NAT id -> its address on the wire
    hosts: tuple[HostRecord, ...]
    services: ServicesRecord | None


@dataclass(frozen=True)
class Handover:
    agent_pid: int
    endpoint: str
    region: str
    labs: tuple[LabRecord, ...]


_ADAPTER = TypeAdapter(Handover)


def write(local_dir: Path, handover: Handover) -> None:
    # 0600: it names processes to signal; only root may say which.
    atomic_write(local_dir / HANDOVER_FILE, json.dumps(asdict(handover), indent=1), mode=0o600)


def take(local_dir: Path) -> Handover | None:
    """The hand-over left in `local_dir`, removed as it is read: it is adopted once."""
    path = local_dir / HANDOVER_FILE
    try:
        text = path.read_text()
    except OSError:
        return None
    path.unlink(missing_ok=True)
    try:
        return _ADAPTER.validate_json(text)
    except ValidationError:
        return None


def discard(local_dir: Path) -> None:
    (local_dir / HANDOVER_FILE).unlink(missing_ok=True)

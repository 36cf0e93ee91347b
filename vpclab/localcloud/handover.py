"""The agent's hand-over: what an agent that exits for new code leaves to the next one, so the
next one adopts the running hosts instead of rebuilding them.

The old agent records each lab's runtime (`record`), writes it (SIGUSR1, see `daemon`) and
exits without stopping anything; the new one takes it once at start and adopts each lab into a
fresh runtime (`adopt`). It is a claim, not a fact: every process in it is checked again
(`ProcRef.check`) before it is trusted, and whatever fails is rebuilt.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import TypeAdapter, ValidationError

from vpclab.localcloud import cleanup, hostoci, internet, netns, nft, procfs
from vpclab.localcloud.converger import HostRuntime
from vpclab.localcloud.dataplane import HostPlan, SubnetPlan
from vpclab.localcloud.files import atomic_write
from vpclab.localcloud.hostboot import BootedHost, HostSpec
from vpclab.localcloud.orphans import AdoptedProcess, ProcRef

if TYPE_CHECKING:
    from vpclab.localcloud.converger import LabRuntime

HANDOVER_FILE = "handover.json"
log = logging.getLogger("vpclab.agent")


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


# -- a lab's runtime, recorded by the old agent and adopted by the new one


def record(runtime: LabRuntime) -> LabRecord:
    """What the next agent needs to adopt the runtime's lab as it runs. Hosts not (yet)
    booted are left out: it rebuilds them."""
    hosts = []
    for host in runtime.hosts.values():
        booted = host.booted()
        if booted is None or booted.sshd_pid is None:
            continue
        crun, init = ProcRef.of(booted.pid), ProcRef.of(booted.sshd_pid)
        inode = netns.inode(host.plan.netns)
        if crun is None or init is None or inode is None:
            continue
        hosts.append(
            HostRecord(
                plan=host.plan,
                host_dir=str(booted.spec.host_dir),
                hostname=booted.spec.hostname,
                kit=booted.spec.kit,
                host_public_key=booted.host_public_key,
                crun=crun,
                init=init,
                netns_inode=inode,
            )
        )
    return LabRecord(
        lab=runtime.lab,
        lab_id=runtime.lid,
        bridges=tuple(runtime.bridges.values()),
        public=dict(runtime.public),
        hosts=tuple(hosts),
        services=_services_record(runtime),
    )


def _services_record(runtime: LabRuntime) -> ServicesRecord | None:
    if runtime.services is None or not runtime.services.done() or runtime.services.exception():
        return None
    served = runtime.services.result()
    procs = [ProcRef.of(p.pid) for p in served.procs]
    if not served.alive() or None in procs:
        served.stop()  # the next agent starts them again
        return None
    return ServicesRecord(
        address=served.address,
        git_url=served.git_url,
        index_url=served.index_url,
        repo_root=str(served.repo_root),
        cache_dir=str(served.cache_dir),
        served_head=runtime.served_head,
        procs=tuple(p for p in procs if p is not None),
    )


def adopt(runtime: LabRuntime, recorded: LabRecord) -> bool:
    """Take up what an earlier agent handed over, as it runs: no host is rebooted, no
    namespace made again. Hosts that do not check out are removed, and the next converge
    builds them again. False: the lab's base is gone, nothing was adopted."""
    if recorded.lab_id != runtime.lid or not (
        netns.exists(runtime.router_ns) and netns.exists(runtime.internet_ns)
    ):
        return False
    runtime.based = True
    runtime.bridges = {s.id: s for s in recorded.bridges}
    runtime.public = dict(recorded.public)
    runtime.router_addrs = set(recorded.public.values())
    # router_text stays empty: the first converge applies this code's router rules.
    for host in recorded.hosts:
        why = host.check()
        if why:
            log.warning(
                "%s: host %s not adopted (%s): rebuilding", runtime.lab, host.plan.netns, why
            )
            continue
        _adopt_host(runtime, host)
    kept = {runtime.router_ns, runtime.internet_ns} | {r.plan.netns for r in runtime.hosts.values()}
    for ns in set(cleanup.lab_namespaces(runtime.lid)) - kept:
        netns.delete(ns)  # a host that failed to boot, or did not check out
        hostoci.forget(ns)
    _adopt_services(runtime, recorded.services)
    log.info("%s: adopted %d hosts", runtime.lab, len(runtime.hosts))
    return True


def _adopt_host(runtime: LabRuntime, recorded: HostRecord) -> None:
    spec = HostSpec(
        netns=recorded.plan.netns,
        host_dir=Path(recorded.host_dir),
        hostname=recorded.hostname,
        authorized_key=None,  # used at boot only
        kit=recorded.kit,
    )
    process = AdoptedProcess(recorded.crun, tuple(hostoci.run_argv(recorded.plan.netns)))
    host = BootedHost(spec, process, recorded.host_public_key, recorded.init.pid)
    boot: Future = Future()
    boot.set_result(host)
    # This code's rendering of the rules, which may differ from the last agent's.
    nft.apply(
        recorded.plan.netns,
        "inet",
        runtime.table,
        nft.render_host(runtime.table, recorded.plan.rules),
    )
    runtime.hosts[recorded.plan.instance_id] = HostRuntime(plan=recorded.plan, boot=boot)


def _adopt_services(runtime: LabRuntime, recorded: ServicesRecord | None) -> None:
    if recorded is None:
        return
    served = internet.InternetServices(
        netns=runtime.internet_ns,
        address=recorded.address,
        git_url=recorded.git_url,
        index_url=recorded.index_url,
        repo_root=Path(recorded.repo_root),
        cache_dir=Path(recorded.cache_dir),
        procs=[AdoptedProcess(p) for p in recorded.procs],
    )
    why = recorded.check(runtime.internet_ns)
    if not why and Path(recorded.repo_root) != runtime.agent.repo_root:
        why = f"they served {recorded.repo_root}"  # started again from this agent's project
    if why:
        log.warning("%s: internet services not adopted (%s): restarting", runtime.lab, why)
        served.procs = [p for p in served.procs if p.ref.check() is None]
        served.stop()  # what is left of them holds their ports
        return
    future: Future = Future()
    future.set_result(served)
    runtime.services = future
    runtime.served_head = recorded.served_head

"""The converger: what the agent made for one lab, and how to change it to match a plan.

One `LabRuntime` per lab: a router and an internet namespace, a bridge per subnet, a
namespace per running instance with the private IP moto gave it, security groups as
nftables rules in each host, a booted host (sshd, user data) per instance, and the web
server published on a loopback port. Everything is named from the lab's id (see `names`).
A runtime can also be handed to the next agent (`handover`) and taken up by it (`adopt`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vpclab.localcloud import cleanup, dataplane, hostoci, internet, names, netns, nft, router
from vpclab.localcloud.dataplane import HostPlan, LabPlan, SubnetPlan
from vpclab.localcloud.handover import HostRecord, LabRecord, ServicesRecord
from vpclab.localcloud.hostboot import BootedHost, HostSpec
from vpclab.localcloud.orphans import AdoptedProcess, ProcRef
from vpclab.localcloud.publish import Target
from vpclab.localcloud.status import HostStatus, InternetAddresses, LabStatus, ServicesStatus
from vpclab.spec import Ports

if TYPE_CHECKING:
    from vpclab.localcloud.daemon import Agent

# The web server's HTTPS port: the microblog's only door (port 80 only redirects to it).
WEB_PORT = Ports().https
# The monitoring server's UIs, published beside the web server. The agent follows the control
# plane, not a spec, so these are the spec's default ports.
MONITORING_UIS = {"prometheus": Ports().prometheus, "alertmanager": Ports().alertmanager}
log = logging.getLogger("vpclab.agent")


@dataclass
class HostRuntime:
    plan: HostPlan
    boot: Future | None = None
    started: float = field(default_factory=time.monotonic)

    def booted(self) -> Any | None:
        if self.boot is None or not self.boot.done() or self.boot.exception() is not None:
            return None
        host = self.boot.result()
        return host if host.alive() else None

    def error(self) -> str | None:
        if self.boot is None or not self.boot.done():
            return None
        exc = self.boot.exception()
        if exc is not None:
            return str(exc) or type(exc).__name__
        if not self.boot.result().alive():
            return "the host's process exited"
        return None

    def stop(self) -> None:
        if self.boot is None:
            return
        try:
            host = self.boot.result(timeout=30)
        except Exception:  # a failed boot left nothing running
            return
        host.stop()


def _identity(h: HostPlan) -> tuple:
    """What cannot change under a running host without rebuilding it."""
    return (h.netns, h.private_ip, h.prefixlen, h.gateway, h.subnet_id, h.veth)


def short_name(lid: str, namespace: str) -> str:
    """A host's short name (its role, or its instance id) from its namespace."""
    return names.netns_suffix(lid, namespace) or namespace


class LabRuntime:
    """What the agent made for one lab, and how to change it."""

    def __init__(self, agent: Agent, lab: str, lid: str) -> None:
        self.agent = agent
        self.lab = lab
        self.lid = lid
        self.table = names.nft_table(lid)
        self.router_ns = names.netns(lid, "router")
        self.internet_ns = names.netns(lid, "internet")
        self.inet = dataplane.internet_link(lid)
        self.based = False
        self.bridges: dict[str, SubnetPlan] = {}
        self.hosts: dict[str, HostRuntime] = {}
        self.public: dict[str, str] = {}
        self.api_public: dict[str, str | None] = {}
        self.router_addrs: set[str] = set()
        self.router_text = ""
        self.services: Future | None = None
        self.served_head: str | None = None  # digest of the project's refs last served
        self.web_url: str | None = None
        self.ui_urls: dict[str, str] = {}  # prometheus, alertmanager -> loopback URL
        self.errors: list[str] = []
        self.plan: LabPlan | None = None

    # -- building blocks

    def _base(self) -> None:
        """The router and the internet namespaces, and the link between them."""
        cleanup.force_down(self.lid)  # leftovers of a crashed agent
        netns.add(self.router_ns)
        netns.add(self.internet_ns)
        netns.veth(
            self.router_ns,
            self.inet,
            self.internet_ns,
            "eth0",
            mac_b=netns.host_mac(dataplane.LAPTOP_IP),
        )
        netns.batch(
            self.router_ns,
            [
                f"link set {self.inet} address {netns.gateway_mac(dataplane.ROUTER_PUBLIC_IP)}",
                f"addr add {dataplane.ROUTER_PUBLIC_IP}/24 dev {self.inet}",
                f"link set {self.inet} up",
            ],
        )
        netns.batch(
            self.internet_ns,
            [
                f"addr add {dataplane.LAPTOP_IP}/24 dev eth0",
                f"addr add {dataplane.SERVICES_IP}/24 dev eth0",
                "link set eth0 up",
                # Elastic IPs live behind the router, like the instances' public addresses.
                f"route add {dataplane.ELASTIC} via {dataplane.ROUTER_PUBLIC_IP}",
            ],
        )
        netns.exec_in(
            self.router_ns,
            [
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
                # Bridged (same-subnet) traffic must not go through the router's forward rules.
                "net.bridge.bridge-nf-call-iptables=0",
            ],
            check=False,
        )
        self.based = True

    def _add_bridge(self, s: SubnetPlan) -> None:
        prefix = s.cidr.split("/")[1]
        # A half-made bridge from a failed loop is replaced, so a retry can succeed.
        netns.run(["ip", "-n", self.router_ns, "link", "del", s.bridge], check=False)
        netns.batch(
            self.router_ns,
            [
                f"link add name {s.bridge} type bridge",
                f"link set {s.bridge} address {netns.gateway_mac(s.gateway)}",
                f"addr add {s.gateway}/{prefix} dev {s.bridge}",
                f"link set {s.bridge} up",
            ],
        )
        self.bridges[s.id] = s

    def _remove_bridge(self, subnet_id: str) -> None:
        s = self.bridges.pop(subnet_id)
        netns.run(["ip", "-n", self.router_ns, "link", "del", s.bridge], check=False)

    def _add_host(self, h: HostPlan) -> None:
        netns.add(h.netns)
        netns.veth(self.router_ns, h.veth, h.netns, "eth0", mac_b=netns.host_mac(h.private_ip))
        bridge = self.bridges[h.subnet_id].bridge
        netns.batch(self.router_ns, [f"link set {h.veth} master {bridge}", f"link set {h.veth} up"])
        netns.batch(
            h.netns,
            [
                f"addr add {h.private_ip}/{h.prefixlen} dev eth0",
                "link set eth0 up",
                f"route add default via {h.gateway}",
            ],
        )
        nft.apply(h.netns, "inet", self.table, nft.render_host(self.table, h.rules))
        runtime = HostRuntime(plan=h)
        runtime.boot = self.agent.pool.submit(self.agent.boot_host, self.lab, self.lid, h)
        runtime.boot.add_done_callback(lambda _f: self.agent.wake.set())
        self.hosts[h.instance_id] = runtime
        log.info("%s: host %s (%s) at %s", self.lab, h.netns, h.instance_id, h.private_ip)

    def _remove_host(self, instance_id: str) -> None:
        runtime = self.hosts.pop(instance_id)
        runtime.stop()
        netns.delete(runtime.plan.netns)
        log.info("%s: removed host %s (%s)", self.lab, runtime.plan.netns, instance_id)

    # -- one loop

    def converge(self, plan: LabPlan) -> None:
        self.errors = []
        self.plan = plan
        if self.based and not (netns.exists(self.router_ns) and netns.exists(self.internet_ns)):
            # Someone removed them (`down --force`, `ip netns del`): build the lab again.
            log.warning("%s: router or internet namespace vanished: rebuilding", self.lab)
            self.teardown()
        if not self.based:
            self._base()
        desired = {h.instance_id: h for h in plan.hosts}
        for iid, runtime in list(self.hosts.items()):
            if (
                iid not in desired
                or _identity(desired[iid]) != _identity(runtime.plan)
                or not netns.exists(runtime.plan.netns)
            ):
                self._remove_host(iid)
        subnets = {s.id: s for s in plan.subnets}
        for sid, s in list(self.bridges.items()):
            if subnets.get(sid) != s:
                self._remove_bridge(sid)
        for sid, s in subnets.items():
            if sid not in self.bridges:
                self._add_bridge(s)
        for h in plan.hosts:
            runtime = self.hosts.get(h.instance_id)
            if runtime is None:
                self._add_host(h)
            elif runtime.plan.rules != h.rules:
                nft.apply(h.netns, "inet", self.table, nft.render_host(self.table, h.rules))
                runtime.plan = h
                log.info("%s: security groups of %s changed", self.lab, h.netns)
            else:
                runtime.plan = h
        self._metadata(plan)
        self._public_addresses(plan)
        text = router.render(self.table, plan, self.public)
        if text != self.router_text:
            nft.apply(self.router_ns, "ip", self.table, text)
            self.router_text = text
            log.info("%s: router rules updated", self.lab)
        self._services()
        self._publish(plan)
        self._publish_monitoring(plan)

    def _metadata(self, plan: LabPlan) -> None:
        """The lab's 169.254.169.254 on its router (`imds`), served by this agent: after a
        hand-over it is served again here, since the last agent's listeners ended with it."""
        try:
            self.agent.metadata.ensure(
                self.router_ns, {h.private_ip: h.instance_id for h in plan.hosts}
            )
        except Exception as exc:  # e.g. the last agent still holds the port: next loop
            log.warning("%s: metadata service: %s", self.lab, exc)
            self.errors.append(f"metadata service: {exc}")

    def _public_addresses(self, plan: LabPlan) -> None:
        self.api_public = plan.public_wanted()
        self.public = dataplane.allocate(self.public, self.api_public)
        addrs = set(self.public.values())
        commands = [f"addr del {ip}/32 dev {self.inet}" for ip in self.router_addrs - addrs]
        commands += [f"addr add {ip}/32 dev {self.inet}" for ip in addrs - self.router_addrs]
        netns.batch(self.router_ns, commands)
        self.router_addrs = addrs

    def _services(self) -> None:
        """The internet's servers (git daemon, wheel index), started once, off the loop, and
        refreshed when the project gets a new commit (they serve what is committed)."""
        if self.agent.repo_root is None:
            return
        if self.services is None:
            self.served_head = self.agent.project_head()
            self.services = self.agent.services_pool.submit(
                internet.start_services,
                self.internet_ns,
                dataplane.SERVICES_IP,
                self.agent.repo_root,
                self.agent.local_dir / "internet",
            )
            self.services.add_done_callback(lambda _f: self.agent.wake.set())
            return
        head = self.agent.project_head()
        if head != self.served_head and self.services.done() and not self.services.exception():
            self.served_head = head
            self.agent.services_pool.submit(self.services.result().refresh)
            log.info("%s: serving the project's new commits and branches", self.lab)

    def services_status(self) -> ServicesStatus:
        if self.agent.repo_root is None:
            return ServicesStatus(
                state="unavailable",
                error="no project folder to serve (start the agent from a checkout of the project)",
            )
        future = self.services
        if future is None or not future.done():
            return ServicesStatus(state="starting")
        if future.exception() is not None:
            return ServicesStatus(state="failed", error=str(future.exception()))
        served = future.result()
        if not served.alive():
            return ServicesStatus(
                state="failed", error=f"a service exited; see {served.cache_dir / 'logs'}"
            )
        return ServicesStatus(
            state="up",
            git_url=served.git_url,
            index_url=served.index_url,
            pip_args=tuple(served.pip_args()),
        )

    def _publish(self, plan: LabPlan) -> None:
        web = next((h for h in plan.hosts if h.role == "web"), None)
        ip = self.public.get(web.instance_id) if web else None
        if ip is None:
            self.agent.publisher.unpublish(self.lid)
            self.web_url = None
            return
        port = self.agent.publisher.publish(
            self.lid,
            Target(self.internet_ns, ip, WEB_PORT),
            self.agent.previous_ports.get(self.lab, 0),
        )
        self.web_url = f"https://127.0.0.1:{port}/"

    def _publish_monitoring(self, plan: LabPlan) -> None:
        """Prometheus' and Alertmanager's UIs, reached from the lab's internet like a browser
        on the admin's machine (the monitoring SG decides, as on AWS)."""
        mon = next((h for h in plan.hosts if h.role == "monitoring"), None)
        ip = self.public.get(mon.instance_id) if mon else None
        for name, target_port in MONITORING_UIS.items():
            key = f"{self.lid}:{name}"
            if ip is None:
                self.agent.publisher.unpublish(key)
                self.ui_urls.pop(name, None)
                continue
            port = self.agent.publisher.publish(
                key,
                Target(self.internet_ns, ip, target_port),
                self.agent.previous_ports.get(f"{self.lab}:{name}", 0),
            )
            self.ui_urls[name] = f"http://127.0.0.1:{port}/"

    # -- hand-over to the next agent

    def handover(self) -> LabRecord:
        """What the next agent needs to adopt this lab as it runs. Hosts not (yet) booted are
        left out: it rebuilds them."""
        hosts = []
        for runtime in self.hosts.values():
            booted = runtime.booted()
            if booted is None or booted.sshd_pid is None:
                continue
            crun, init = ProcRef.of(booted.pid), ProcRef.of(booted.sshd_pid)
            inode = netns.inode(runtime.plan.netns)
            if crun is None or init is None or inode is None:
                continue
            hosts.append(
                HostRecord(
                    plan=runtime.plan,
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
            lab=self.lab,
            lab_id=self.lid,
            bridges=tuple(self.bridges.values()),
            public=dict(self.public),
            hosts=tuple(hosts),
            services=self._services_record(),
        )

    def _services_record(self) -> ServicesRecord | None:
        if self.services is None or not self.services.done() or self.services.exception():
            return None
        served = self.services.result()
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
            served_head=self.served_head,
            procs=tuple(p for p in procs if p is not None),
        )

    def adopt(self, record: LabRecord) -> bool:
        """Take up what an earlier agent handed over, as it runs: no host is rebooted, no
        namespace made again. Hosts that do not check out are removed, and the next converge
        builds them again. False: the lab's base is gone, nothing was adopted."""
        if record.lab_id != self.lid or not (
            netns.exists(self.router_ns) and netns.exists(self.internet_ns)
        ):
            return False
        self.based = True
        self.bridges = {s.id: s for s in record.bridges}
        self.public = dict(record.public)
        self.router_addrs = set(record.public.values())
        # router_text stays empty: the first converge applies this code's router rules.
        for host in record.hosts:
            why = host.check()
            if why:
                log.warning(
                    "%s: host %s not adopted (%s): rebuilding", self.lab, host.plan.netns, why
                )
                continue
            self._adopt_host(host)
        kept = {self.router_ns, self.internet_ns} | {r.plan.netns for r in self.hosts.values()}
        for ns in set(cleanup.lab_namespaces(self.lid)) - kept:
            netns.delete(ns)  # a host that failed to boot, or did not check out
            hostoci.forget(ns)
        self._adopt_services(record.services)
        log.info("%s: adopted %d hosts", self.lab, len(self.hosts))
        return True

    def _adopt_host(self, record: HostRecord) -> None:
        spec = HostSpec(
            netns=record.plan.netns,
            host_dir=Path(record.host_dir),
            hostname=record.hostname,
            authorized_key=None,  # used at boot only
            kit=record.kit,
        )
        process = AdoptedProcess(record.crun, tuple(hostoci.run_argv(record.plan.netns)))
        host = BootedHost(spec, process, record.host_public_key, record.init.pid)
        boot: Future = Future()
        boot.set_result(host)
        # This code's rendering of the rules, which may differ from the last agent's.
        nft.apply(
            record.plan.netns, "inet", self.table, nft.render_host(self.table, record.plan.rules)
        )
        self.hosts[record.plan.instance_id] = HostRuntime(plan=record.plan, boot=boot)

    def _adopt_services(self, record: ServicesRecord | None) -> None:
        if record is None:
            return
        served = internet.InternetServices(
            netns=self.internet_ns,
            address=record.address,
            git_url=record.git_url,
            index_url=record.index_url,
            repo_root=Path(record.repo_root),
            cache_dir=Path(record.cache_dir),
            procs=[AdoptedProcess(p) for p in record.procs],
        )
        why = record.check(self.internet_ns)
        if not why and Path(record.repo_root) != self.agent.repo_root:
            why = f"they served {record.repo_root}"  # started again from this agent's project
        if why:
            log.warning("%s: internet services not adopted (%s): restarting", self.lab, why)
            served.procs = [p for p in served.procs if p.ref.check() is None]
            served.stop()  # what is left of them holds their ports
            return
        future: Future = Future()
        future.set_result(served)
        self.services = future
        self.served_head = record.served_head

    def teardown(self) -> None:
        self.agent.publisher.unpublish(self.lid)
        for name in MONITORING_UIS:
            self.agent.publisher.unpublish(f"{self.lid}:{name}")
        self.ui_urls.clear()
        self.agent.metadata.remove(self.router_ns)
        runtimes = list(self.hosts.values())
        # Stop hosts in parallel: each stop is a SIGKILL and a wait.
        list(self.agent.pool.map(lambda r: r.stop(), runtimes))
        self.hosts.clear()
        if self.services is not None:
            with contextlib.suppress(Exception):
                self.services.result(timeout=60).stop()
        self.services = None
        for r in runtimes:
            netns.delete(r.plan.netns)
        netns.delete(self.router_ns)
        netns.delete(self.internet_ns)
        cleanup.force_down(self.lid)
        # Forget what was made, so a later converge builds everything again.
        self.based = False
        self.bridges.clear()
        self.router_addrs.clear()
        self.router_text = ""
        self.web_url = None
        log.info("%s: torn down", self.lab)

    def status(self) -> LabStatus:
        hosts = {}
        for runtime in self.hosts.values():
            h = runtime.plan
            booted = runtime.booted()
            key = booted.host_public_key.split()[:2] if booted else []
            name = short_name(self.lid, h.netns)
            hosts[name] = HostStatus(
                name=name,
                instance_id=h.instance_id,
                role=h.role,
                netns=h.netns,
                private_ip=h.private_ip,
                public_ip=self.public.get(h.instance_id),
                booted=booted is not None,
                host_key=" ".join(key) or None,
                pid=booted.pid if booted else None,
                error=runtime.error(),
                api_public_ip=h.public_ip,
            )
        return LabStatus(
            lab=self.lab,
            lab_id=self.lid,
            web_url=self.web_url,
            prometheus_url=self.ui_urls.get("prometheus"),
            alertmanager_url=self.ui_urls.get("alertmanager"),
            router_netns=self.router_ns,
            internet_netns=self.internet_ns,
            internet=InternetAddresses(
                router=dataplane.ROUTER_PUBLIC_IP,
                laptop=dataplane.LAPTOP_IP,
                services=dataplane.SERVICES_IP,
            ),
            services=self.services_status(),
            nat={k: v for k, v in self.public.items() if k.startswith("nat-")},
            hosts=hosts,
            errors=tuple(self.errors),
        )

"""The local cloud's host agent: it makes Linux network namespaces follow moto's state.

Run detached (`start`), it polls the control plane about every 0.5 s, discovers labs by their
`vpclab:lab` tag, and converges each one (see `dataplane` for the model): a router and an
internet namespace per lab, a bridge per subnet, a namespace per running instance with the
private IP moto gave it, security groups as nftables rules in each host, and a booted host
(sshd, user data) per instance. A raw boto3 call from a notebook therefore takes effect on
the wire too. Every loop it writes `agent-status.json`; `stop` tears everything down.

API for the CLI: `start`, `stop`, `status`, `wait_converged`; `cleanup.force_down` when the
agent is gone.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpclab.errors import VpclabError
from vpclab.localcloud import cleanup, dataplane, internet, names, netns, nft, router
from vpclab.localcloud.dataplane import HostPlan, LabPlan, Snapshot, SubnetPlan
from vpclab.localcloud.publish import Publisher, Target

AGENT_FILE = "agent.json"
STATUS_FILE = "agent-status.json"
LOG_FILE = "agent.log"
INTERVAL = 0.5
WEB_PORT = 80
log = logging.getLogger("vpclab.agent")


# --- the API the CLI calls -----------------------------------------------------------------


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _is_agent(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"vpclab.localcloud.agent" in cmdline


def running(local_dir: Path) -> dict | None:
    """The agent's record (pid, endpoint, region) if it is alive, else None."""
    record = _read_json(Path(local_dir) / AGENT_FILE)
    if record and _is_agent(int(record.get("pid", 0))):
        return record
    return None


def project_root() -> Path | None:
    """The checkout vpclab runs from, when there is one: what the internet's git serves."""
    root = Path(__file__).resolve().parents[2]
    if (root / ".git").exists() and (root / internet.REQUIREMENTS).exists():
        return root
    return None


def start(
    local_dir: Path,
    endpoint: str,
    region: str,
    repo_root: Path | None = None,
    interval: float = INTERVAL,
) -> int:
    """Start the agent (a no-op when it runs). Returns its PID. Needs root on Linux.

    `repo_root` is the project the internet namespace serves (default: this checkout).
    """
    local_dir = Path(local_dir).resolve()
    record = running(local_dir)
    if record:
        return int(record["pid"])
    netns.require_support()
    local_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE",)}
    argv = [
        sys.executable,
        "-m",
        "vpclab.localcloud.agent",
        "--local-dir",
        str(local_dir),
        "--endpoint",
        endpoint,
        "--region",
        region,
        "--interval",
        str(interval),
    ]
    repo_root = repo_root or project_root()
    if repo_root:
        argv += ["--repo-root", str(Path(repo_root).resolve())]
    with open(local_dir / LOG_FILE, "ab") as logf:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(local_dir),
            start_new_session=True,
        )  # its own session: outlives the CLI
    _write_json(
        local_dir / AGENT_FILE,
        {"pid": proc.pid, "endpoint": endpoint, "region": region, "started": time.time()},
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            (local_dir / AGENT_FILE).unlink(missing_ok=True)
            raise VpclabError(
                f"the local agent exited at start: {_last_line(local_dir)}",
                f"see {local_dir / LOG_FILE}",
            )
        if (_read_json(local_dir / STATUS_FILE) or {}).get("pid") == proc.pid:
            return proc.pid
        time.sleep(0.05)
    raise VpclabError("the local agent did not report within 20 s", f"see {local_dir / LOG_FILE}")


def _last_line(local_dir: Path) -> str:
    try:
        lines = (local_dir / LOG_FILE).read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1] if lines else "no log"


def stop(local_dir: Path, timeout: float = 20.0) -> bool:
    """Stop the agent (SIGTERM: it stops every host and removes every namespace it made).

    Returns whether it was running. Labs it reported are swept with `force_down` afterwards,
    in case it had to be killed.
    """
    local_dir = Path(local_dir).resolve()
    record = running(local_dir)
    last = _read_json(local_dir / STATUS_FILE) or {}
    if record:
        pid = int(record["pid"])
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _is_agent(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.02)
        if _is_agent(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _reap(pid)
    for lab in last.get("labs", {}):
        cleanup.force_down(lab)
    for name in (AGENT_FILE, STATUS_FILE):
        (local_dir / name).unlink(missing_ok=True)
    return record is not None


def _reap(pid: int) -> None:
    # The agent is our child only when this process started it (tests, benchmarks).
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def status(local_dir: Path) -> dict | None:
    """The agent's last status (see the module doc), or None when it is not running."""
    local_dir = Path(local_dir).resolve()
    record = running(local_dir)
    if not record:
        return None
    current = _read_json(local_dir / STATUS_FILE)
    if current and current.get("pid") == record["pid"]:
        return current
    return {"generation": 0, "loop_started": 0, "labs": {}, "pid": record["pid"]}  # starting


def wait_converged(local_dir: Path, lab: str, timeout: float = 30.0) -> dict:
    """Block until a loop that started after this call has finished with every running
    instance of `lab` booted. Returns the lab's status; raises VpclabError on timeout or on a
    host that failed to boot."""
    asked = time.time()
    deadline = time.monotonic() + timeout
    pending = "no loop of the agent has finished yet"
    while True:
        current = status(local_dir)
        if current is None:
            raise VpclabError("the local agent is not running", "run 'vpclab local start'")
        if current.get("loop_started", 0) > asked:
            if current.get("control_plane_error"):
                pending = f"the control plane did not answer ({current['control_plane_error']})"
            else:
                lab_status = current.get("labs", {}).get(lab)
                if lab_status is None:
                    return {"web_url": None, "hosts": {}, "errors": []}
                failed = {n: h["error"] for n, h in lab_status["hosts"].items() if h.get("error")}
                if failed:
                    name, why = next(iter(failed.items()))
                    raise VpclabError(
                        f"lab {lab}: host {name} did not boot: {why}",
                        f"see {Path(local_dir) / LOG_FILE} and the host's console.log",
                    )
                services = lab_status.get("services", {})
                if services.get("state") == "failed":
                    raise VpclabError(
                        f"lab {lab}: the internet services failed: {services.get('error')}",
                        f"see {Path(local_dir) / LOG_FILE}",
                    )
                down = sorted(n for n, h in lab_status["hosts"].items() if not h["booted"])
                errors = lab_status.get("errors", [])
                if services.get("state") == "starting":
                    down.append("internet services")
                if not down and not errors:
                    return lab_status
                pending = (
                    f"not up yet: {', '.join(down)}" if down else f"errors: {'; '.join(errors)}"
                )
        if time.monotonic() > deadline:
            raise VpclabError(
                f"lab {lab}: the local data plane did not converge in {timeout:.0f} s ({pending})",
                f"see {Path(local_dir) / LOG_FILE}",
            )
        time.sleep(0.05)


# --- the agent process ---------------------------------------------------------------------


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


class LabRuntime:
    """What the agent made for one lab, and how to change it."""

    def __init__(self, agent: Agent, lab: str) -> None:
        self.agent = agent
        self.lab = lab
        self.table = names.nft_table(lab)
        self.router_ns = names.netns(lab, "router")
        self.internet_ns = names.netns(lab, "internet")
        self.inet = dataplane.internet_link(lab)
        self.based = False
        self.bridges: dict[str, SubnetPlan] = {}
        self.hosts: dict[str, HostRuntime] = {}
        self.public: dict[str, str] = {}
        self.router_addrs: set[str] = set()
        self.router_text = ""
        self.services: Future | None = None
        self.served_head: str | None = None
        self.web_url: str | None = None
        self.errors: list[str] = []
        self.plan: LabPlan | None = None

    # -- building blocks

    def _base(self) -> None:
        """The router and the internet namespaces, and the link between them."""
        cleanup.force_down(self.lab)  # leftovers of a crashed agent
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
        runtime.boot = self.agent.pool.submit(self.agent.boot_host, self.lab, h)
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
        self._public_addresses(plan)
        text = router.render(self.table, plan, self.public)
        if text != self.router_text:
            nft.apply(self.router_ns, "ip", self.table, text)
            self.router_text = text
            log.info("%s: router rules updated", self.lab)
        self._services()
        self._publish(plan)

    def _public_addresses(self, plan: LabPlan) -> None:
        wanted = [h.instance_id for h in plan.hosts if h.wants_public] + list(plan.nat_ids)
        self.public = dataplane.allocate(self.public, wanted)
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
            log.info("%s: serving the project's new commit %s", self.lab, (head or "")[:12])

    def services_status(self) -> dict:
        if self.agent.repo_root is None:
            return {
                "state": "unavailable",
                "error": "no project folder to serve "
                "(start the agent from a checkout of the project)",
            }
        future = self.services
        if future is None or not future.done():
            return {"state": "starting"}
        if future.exception() is not None:
            return {"state": "failed", "error": str(future.exception())}
        served = future.result()
        if not served.alive():
            return {
                "state": "failed",
                "error": f"a service exited; see {served.cache_dir / 'logs'}",
            }
        return {
            "state": "up",
            "git_url": served.git_url,
            "index_url": served.index_url,
            "pip_args": served.pip_args(),
        }

    def _publish(self, plan: LabPlan) -> None:
        web = next((h for h in plan.hosts if h.role == "web"), None)
        ip = self.public.get(web.instance_id) if web else None
        if ip is None:
            self.agent.publisher.unpublish(self.lab)
            self.web_url = None
            return
        port = self.agent.publisher.publish(
            self.lab,
            Target(self.internet_ns, ip, WEB_PORT),
            self.agent.previous_ports.get(self.lab, 0),
        )
        self.web_url = f"http://127.0.0.1:{port}/"

    def teardown(self) -> None:
        self.agent.publisher.unpublish(self.lab)
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
        cleanup.force_down(self.lab)
        # Forget what was made, so a later converge builds everything again.
        self.based = False
        self.bridges.clear()
        self.router_addrs.clear()
        self.router_text = ""
        self.web_url = None
        log.info("%s: torn down", self.lab)

    def status(self) -> dict:
        hosts = {}
        for runtime in self.hosts.values():
            h = runtime.plan
            booted = runtime.booted()
            key = booted.host_public_key.split()[:2] if booted else []
            hosts[h.netns[len(names.netns(self.lab, "")) :]] = {
                "instance_id": h.instance_id,
                "role": h.role,
                "netns": h.netns,
                "private_ip": h.private_ip,
                "public_ip": self.public.get(h.instance_id),
                "booted": booted is not None,
                "host_key": " ".join(key) or None,
                "pid": booted.pid if booted else None,
                "error": runtime.error(),
            }
        return {
            "web_url": self.web_url,
            "router_netns": self.router_ns,
            "internet_netns": self.internet_ns,
            "internet": {
                "router": dataplane.ROUTER_PUBLIC_IP,
                "laptop": dataplane.LAPTOP_IP,
                "services": dataplane.SERVICES_IP,
            },
            "nat": {k: v for k, v in self.public.items() if k.startswith("nat-")},
            "services": self.services_status(),
            "hosts": hosts,
            "errors": list(self.errors),
        }


class Agent:
    def __init__(
        self,
        local_dir: Path,
        endpoint: str,
        region: str,
        repo_root: Path | None = None,
        interval: float = INTERVAL,
    ) -> None:
        import boto3

        from vpclab.aws.session import LOCAL_CREDENTIALS

        self.local_dir = local_dir
        self.interval = interval
        self.ec2 = boto3.Session(region_name=region, **LOCAL_CREDENTIALS).client(
            "ec2", endpoint_url=endpoint
        )
        self.endpoint, self.region = endpoint, region
        self.labs: dict[str, LabRuntime] = {}
        self.repo_root = repo_root
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="boot")
        # One at a time: labs share the wheel cache.
        self.services_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="services")
        self.publisher = Publisher()
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.generation = 0
        self.previous_ports: dict[str, int] = {}
        self._head: str | None = None
        self._head_checked = -1e9

    def project_head(self) -> str | None:
        """The project's current commit, looked up at most every 2 s (it is cheap, not free)."""
        now = time.monotonic()
        if self.repo_root is not None and now - self._head_checked > 2.0:
            self._head_checked = now
            done = subprocess.run(
                ["git", "-C", str(self.repo_root), "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
            )
            self._head = done.stdout.strip() if done.returncode == 0 else None
        return self._head

    # -- hosts

    def boot_host(self, lab: str, h: HostPlan) -> Any:
        try:
            host = self._boot(lab, h)
        except Exception:
            log.exception("%s: host %s did not boot", lab, h.netns)
            raise
        log.info("%s: host %s booted (pid %d)", lab, h.netns, host.pid)
        return host

    def _boot(self, lab: str, h: HostPlan) -> Any:
        from vpclab.localcloud import hostboot

        key = self._authorized_key(lab, h)
        attr = self.ec2.describe_instance_attribute(InstanceId=h.instance_id, Attribute="userData")
        encoded = attr.get("UserData", {}).get("Value")
        user_data = base64.b64decode(encoded) if encoded else None
        host_dir = self.local_dir / "hosts" / lab / h.netns[len(names.netns(lab, "")) :]
        marker = host_dir / "instance-id"
        # The folder is the instance's disk: a new instance in the same role starts clean.
        # The key is part of the identity: a fresh control plane with seeded ids reuses ids.
        identity = f"{h.instance_id} {key}"
        if host_dir.exists() and _read_text(marker) != identity:
            shutil.rmtree(host_dir)
        host_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(identity)
        return hostboot.boot(
            hostboot.HostSpec(
                netns=h.netns,
                host_dir=host_dir,
                hostname=h.role or h.instance_id,
                authorized_key=key,
                user_data=user_data,
            )
        )

    def _authorized_key(self, lab: str, h: HostPlan) -> str | None:
        """The key pair's public key line; None for an instance launched without one."""
        if not h.key_name:
            return None
        with contextlib.suppress(Exception):
            pairs = self.ec2.describe_key_pairs(KeyNames=[h.key_name], IncludePublicKey=True)
            key = pairs["KeyPairs"][0].get("PublicKey")
            if key:
                return key.strip()
        # The kit keeps the public half beside the private key.
        pub = self.local_dir.parent / "labs" / lab / "keys" / f"{h.key_name}.pub"
        if pub.exists():
            return pub.read_text().strip()
        raise VpclabError(
            f"no public key for key pair {h.key_name}",
            "import the key pair again ('vpclab up --through instances')",
        )

    # -- the loop

    def run(self) -> None:
        previous = _read_json(self.local_dir / STATUS_FILE) or {}
        for lab, data in previous.get("labs", {}).items():
            cleanup.force_down(lab)  # a crashed agent's leftovers
            url = data.get("web_url") or ""
            with contextlib.suppress(ValueError, IndexError):
                self.previous_ports[lab] = int(url.rsplit(":", 1)[1].strip("/"))
        try:
            while not self.stopping.is_set():
                started = time.time()
                self.wake.clear()
                error = self.loop()
                self.generation += 1
                self.write_status(started, error)
                self.wake.wait(max(0.0, self.interval - (time.time() - started)))
        finally:
            self.shutdown()

    def loop(self) -> str | None:
        try:
            snap = Snapshot.fetch(self.ec2)
        except Exception as exc:  # moto restarting: keep what runs, report, retry
            return str(exc)
        wanted = dataplane.labs_in(snap)
        for lab in list(self.labs):
            if lab not in wanted:
                self.labs.pop(lab).teardown()
        for lab in sorted(wanted):
            runtime = self.labs.setdefault(lab, LabRuntime(self, lab))
            try:
                runtime.converge(dataplane.plan(snap, lab))
            except Exception as exc:
                log.exception("%s: converge failed", lab)
                runtime.errors.append(str(exc))
        return None

    def write_status(self, started: float, error: str | None) -> None:
        data = {
            "generation": self.generation,
            "loop_started": started,
            "updated": time.time(),
            "pid": os.getpid(),
            "endpoint": self.endpoint,
            "region": self.region,
            "control_plane_error": error,
            "labs": {lab: rt.status() for lab, rt in self.labs.items()},
        }
        _write_json(self.local_dir / STATUS_FILE, data)

    def shutdown(self) -> None:
        for lab in list(self.labs):
            try:
                self.labs.pop(lab).teardown()
            except Exception:
                log.exception("%s: teardown failed", lab)
                cleanup.force_down(lab)
        self.publisher.close()
        self.pool.shutdown(wait=True)
        self.services_pool.shutdown(wait=True)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="vpclab-agent")
    parser.add_argument("--local-dir", required=True, type=Path)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--repo-root", type=Path, default=None)
    parser.add_argument("--interval", type=float, default=INTERVAL)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    agent = Agent(
        args.local_dir.resolve(),
        args.endpoint,
        args.region,
        args.repo_root.resolve() if args.repo_root else None,
        args.interval,
    )

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        agent.stopping.set()
        agent.wake.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("agent %d: control plane %s (%s)", os.getpid(), args.endpoint, args.region)
    agent.run()
    log.info("agent %d: stopped", os.getpid())


if __name__ == "__main__":
    main()

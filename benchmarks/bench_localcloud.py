"""Benchmark: the local data plane (the agent) on a fresh moto server. Needs root.

Phases, each timed over several runs (medians reported):
- boot:      `run_instances` -> the new host's sshd answers at its public address (launched
             at a random moment of the agent's 0.5 s polling cycle);
- terminate: `terminate_instances` -> its namespace and processes are gone;
- converge:  agent start -> a whole lab (jenkins, web, app) booted;
- down:      agent stop -> every namespace, link and process of the lab removed;
- up:        the CLI's whole `up` through instances (steps on moto, then the agent boots the
             four hosts and `up` returns once they answer), from an empty cloud;
- lab down:  `vpclab down` of that lab until the agent has removed its hosts.

Goals: boot under 1 s, down under 3 s. To add a phase (e.g. the CLI's whole `up` through
instances), write `def phase_x(bench: Bench) -> float` and add it to PHASES.
Usage: python benchmarks/bench_localcloud.py [--runs N] [--phase NAME ...]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "localcloud"))

import labkit  # noqa: E402

from vpclab.lab import Lab  # noqa: E402
from vpclab.localcloud import cleanup, client, names, netns, probe  # noqa: E402


@dataclass
class Bench:
    tmp: Path
    moto: labkit.MotoServer
    local_dir: Path
    ec2: object
    count: int = 0

    def new_lab(self, peering: bool = False) -> labkit.Lab:
        # A fresh control plane each time: the default VPC takes one peering route only.
        self.moto.reset()
        self.count += 1
        return labkit.build_network(self.ec2, f"bench{self.count}", peering=peering)

    def start_agent(self) -> None:
        client.start(self.local_dir, self.moto.endpoint, labkit.REGION)

    def lid(self, name: str) -> str:
        return names.lab_id(name, self.local_dir.parent)


def _wait(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step did not finish")
        time.sleep(0.002)


def _public_ip(bench: Bench, lab: str, iid: str) -> str | None:
    st = client.status(bench.local_dir)
    lab_status = st.labs.get(lab) if st else None
    for host in lab_status.hosts.values() if lab_status else ():
        if host.instance_id == iid:
            return host.public_ip
    return None


def phase_boot_and_terminate(bench: Bench) -> dict[str, float]:
    lab = bench.new_lab()
    bench.start_agent()
    client.wait_converged(bench.local_dir, lab.name, 60)  # services and caches warm
    labkit.prepare(lab, bench.tmp)
    # Launch at a random moment of the agent's polling cycle, as a user would.
    time.sleep(random.uniform(0, client.INTERVAL))
    start = time.perf_counter()
    iid = labkit.launch(lab, "web", bench.tmp)

    def answers() -> bool:
        ip = _public_ip(bench, lab.name, iid)
        return bool(ip) and (
            probe.banner(bench.lid(lab.name), "internet", ip, 22, 0.2) or b""
        ).startswith(b"SSH-")

    _wait(answers)
    boot = time.perf_counter() - start
    ns = names.netns(bench.lid(lab.name), "web")
    start = time.perf_counter()
    lab.ec2.terminate_instances(InstanceIds=[iid])
    _wait(lambda: not netns.exists(ns))
    terminate = time.perf_counter() - start
    client.stop(bench.local_dir)
    return {"boot": boot, "terminate": terminate}


def phase_converge_and_down(bench: Bench) -> dict[str, float]:
    lab = bench.new_lab(peering=True)
    for role in ("jenkins", "web", "app"):
        labkit.launch(lab, role, bench.tmp)
    start = time.perf_counter()
    bench.start_agent()
    client.wait_converged(bench.local_dir, lab.name, 60)
    converge = time.perf_counter() - start
    start = time.perf_counter()
    client.stop(bench.local_dir)
    down = time.perf_counter() - start
    left = cleanup.lab_namespaces(bench.lid(lab.name))
    if left:
        raise RuntimeError(f"down left namespaces behind: {left}")
    return {"converge": converge, "down": down}


def phase_up(bench: Bench) -> dict[str, float]:
    bench.moto.reset()
    bench.count += 1
    name = f"bench{bench.count}"
    spec = bench.tmp / f"{name}.toml"
    spec.write_text(
        (ROOT / "lab.toml").read_text().replace('name = "microblog"', f'name = "{name}"', 1)
    )
    os.environ.update(
        AWS_ENDPOINT_URL=bench.moto.endpoint, VPCLAB_STATE=str(bench.tmp / "up-state")
    )
    lab = Lab(spec, "local", say=lambda _line: None)
    start = time.perf_counter()
    lab.up(through="instances")
    up = time.perf_counter() - start
    start = time.perf_counter()
    lab.down()
    # Done when no host is left (the lab's router and internet may go a loop later).
    lid = lab.lab_id
    _wait(lambda: all(ns.endswith(("-internet", "-router")) for ns in cleanup.lab_namespaces(lid)))
    down = time.perf_counter() - start
    client.stop(lab.local_dir)
    return {"up": up, "lab down": down}


PHASES: dict[str, Callable[[Bench], dict[str, float]]] = {
    "up": phase_up,
    "boot": phase_boot_and_terminate,
    "lab": phase_converge_and_down,
}
GOALS = {"boot": 1.0, "down": 3.0, "up": 10.0, "lab down": 3.0}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--phase", action="append", choices=sorted(PHASES))
    args = parser.parse_args()
    reason = netns.unsupported_reason()
    if reason:
        sys.exit(f"bench_localcloud: {reason}")
    tmp = Path(tempfile.mkdtemp(prefix="vpclab-bench-"))
    moto = labkit.moto_server(tmp / "moto.log")
    bench = Bench(tmp, moto, tmp / "state" / "local", labkit.ec2_client(moto.endpoint))
    bench.local_dir.mkdir(parents=True)
    figures: dict[str, list[float]] = {}
    try:
        # Warm-up: the internet services' git mirror and wheel cache are built once.
        phase_boot_and_terminate(bench)
        for _ in range(args.runs):
            for name in args.phase or PHASES:
                for key, secs in PHASES[name](bench).items():
                    figures.setdefault(key, []).append(secs)
    finally:
        client.stop(bench.local_dir)
        for i in range(1, bench.count + 1):
            cleanup.force_down(bench.lid(f"bench{i}"))
            cleanup.force_down(names.lab_id(f"bench{i}", tmp / "up-state"))
        moto.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"local data plane, {args.runs} runs (seconds)")
    print(f"{'phase':<10} {'median':>7} {'min':>7} {'max':>7} {'goal':>6}")
    for key, secs in figures.items():
        goal = f"<{GOALS[key]:.0f}" if key in GOALS else ""
        print(
            f"{key:<10} {statistics.median(secs):>7.3f} {min(secs):>7.3f} "
            f"{max(secs):>7.3f} {goal:>6}"
        )


if __name__ == "__main__":
    main()

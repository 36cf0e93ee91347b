"""Benchmark: up -> verify -> down on the control plane (a fresh moto server).

Reports medians over several runs, the API calls each phase makes, and the CPU the moto
server itself spends: on its start (until it answers) and in each phase. Then the throwaway
servers of tests and grading (`motoserver.ephemeral`): the CPU each spends on its start and
first EC2 call, and its forker's once (`motofork`).
Usage: python benchmarks/bench_controlplane.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from vpclab.aws.session import LOCAL_CREDENTIALS, new_session
from vpclab.lab import Lab
from vpclab.localcloud import motoserver

ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(spec: Path, server_pid: int) -> dict[str, tuple[float, int, int, float]]:
    lab = Lab(spec, "local", say=lambda _l: None)
    phases = {}
    for name, action in (
        ("up", lab.up),
        ("up again", lab.up),
        ("verify", lab.verify),
        ("down", lab.down),
    ):
        lab.cloud.log.clear()
        start, served = time.perf_counter(), cpu_seconds(server_pid)
        action()
        phases[name] = (
            time.perf_counter() - start,
            len(lab.cloud.log.calls),
            len(lab.cloud.log.mutating),
            cpu_seconds(server_pid) - served,
        )
    return phases


def throwaway_servers(runs: int) -> tuple[list[float], list[float], float | None]:
    """CPU-s of each throwaway server until its first EC2 call answered: forked
    (`motoserver.ephemeral`), then as a new interpreter (how they started before the
    forker); and the forker's own, once (None when it is not running)."""
    session = new_session("us-east-1", **LOCAL_CREDENTIALS)
    forked, fresh = [], []
    for _ in range(runs):
        with motoserver.ephemeral() as server:
            session.client("ec2", endpoint_url=server.endpoint).describe_vpcs()
            forked.append(cpu_seconds(server.pid))
        port = motoserver.ports.free_port()
        server = motoserver.EphemeralServer(
            motoserver._launch(port, Path(os.devnull), {}, detached=False), port
        )
        try:
            session.client("ec2", endpoint_url=server.endpoint).describe_vpcs()
            fresh.append(cpu_seconds(server.pid))
        finally:
            server.stop()
    forker = motoserver._FORKER.proc
    once = cpu_seconds(forker.pid) if forker and forker.poll() is None else None
    return forked, fresh, once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.environ["VPCLAB_DATAPLANE"] = "off"  # the hosts: benchmarks/bench_localcloud.py
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "lab.toml"
        shutil.copy(ROOT / "lab.toml", spec)
        local = Path(tmp) / ".vpclab" / "local"
        server = motoserver.start(local)
        started = cpu_seconds(server.pid)
        try:
            runs = [one_run(spec, server.pid) for _ in range(args.runs)]
        finally:
            motoserver.stop(local)
    print(f"control plane on moto, {args.runs} runs (median seconds; API calls per run)")
    print(f"moto's start: {started:.2f} CPU-s until it answered")
    print(
        f"{'phase':<10} {'median s':>9} {'min s':>7} {'calls':>6} {'mutating':>9} "
        f"{'moto CPU-s':>11}"
    )
    for phase in runs[0]:
        secs = [r[phase][0] for r in runs]
        served = [r[phase][3] for r in runs]
        _, calls, mutating, _ = runs[-1][phase]
        print(
            f"{phase:<10} {statistics.median(secs):>9.3f} {min(secs):>7.3f} "
            f"{calls:>6} {mutating:>9} {statistics.median(served):>11.2f}"
        )
    forked, fresh, forker = throwaway_servers(args.runs)
    print(
        f"a throwaway server's start and first EC2 call (median of {args.runs}): forked "
        f"{statistics.median(forked):.2f} CPU-s, a new interpreter "
        f"{statistics.median(fresh):.2f} CPU-s"
        + (f"; the forker, once: {forker:.2f} CPU-s" if forker is not None else "")
    )


if __name__ == "__main__":
    main()

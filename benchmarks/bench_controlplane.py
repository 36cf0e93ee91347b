"""Benchmark: up -> verify -> down on the control plane (a fresh moto server).

Reports medians over several runs, and the API calls each phase makes.
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

from vpclab.lab import Lab
from vpclab.localcloud import motoserver

ROOT = Path(__file__).resolve().parents[1]


def one_run(spec: Path) -> dict[str, tuple[float, int, int]]:
    lab = Lab(spec, "local", say=lambda _l: None)
    phases = {}
    for name, action in (
        ("up", lab.up),
        ("up again", lab.up),
        ("verify", lab.verify),
        ("down", lab.down),
    ):
        lab.cloud.log.clear()
        start = time.perf_counter()
        action()
        phases[name] = (
            time.perf_counter() - start,
            len(lab.cloud.log.calls),
            len(lab.cloud.log.mutating),
        )
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.environ["VPCLAB_DATAPLANE"] = "off"  # the hosts: benchmarks/bench_localcloud.py
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "lab.toml"
        shutil.copy(ROOT / "lab.toml", spec)
        local = Path(tmp) / ".vpclab" / "local"
        motoserver.start(local)
        try:
            runs = [one_run(spec) for _ in range(args.runs)]
        finally:
            motoserver.stop(local)
    print(f"control plane on moto, {args.runs} runs (median seconds; API calls per run)")
    print(f"{'phase':<10} {'median s':>9} {'min s':>7} {'calls':>6} {'mutating':>9}")
    for phase in runs[0]:
        secs = [r[phase][0] for r in runs]
        _, calls, mutating = runs[-1][phase]
        print(
            f"{phase:<10} {statistics.median(secs):>9.3f} {min(secs):>7.3f} "
            f"{calls:>6} {mutating:>9}"
        )


if __name__ == "__main__":
    main()

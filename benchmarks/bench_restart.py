"""Restart to green: how long a running lab takes to be all green again after the agent
restarts for new code. Needs root.

    python benchmarks/bench_restart.py [--runs 3]

A whole local lab of its own (own name, state folder, moto server and a throwaway clone of
the project as its git remote, as the tests' `full_lab`) is brought up once. Then each run
makes the running agent look older than the code (its record's fingerprint), and times
until `vpclab verify` is all green, two ways:
- adopt: `vpclab up` restarts the agent, which adopts the running hosts (hand-over);
- full:  the agent is stopped first (every host stopped), as a restart did before, then
         started again and `vpclab up` rebuilds the lab on new hosts.
Prints the median, min and max of each. The lab is removed afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reallab import FullLab, all_green, full_lab  # noqa: E402
from vpclab.localcloud import client  # noqa: E402
from vpclab.localcloud.files import read_json, write_json  # noqa: E402
from vpclab.paths import local_dir  # noqa: E402


def make_agent_older(where: Path) -> None:
    """What a code change does to the running agent: its fingerprint no longer matches."""
    path = where / client.AGENT_FILE
    write_json(path, read_json(path) | {"fingerprint": "older-code"})


def to_green(lab: FullLab) -> None:
    up = lab.cli("up")
    if up.returncode != 0:
        raise RuntimeError(f"vpclab up failed: {up.stdout[-2000:]}{up.stderr[-2000:]}")
    verify = lab.cli("verify")
    if not all_green(verify.stdout):
        raise RuntimeError(f"not green after the restart: {verify.stdout[-3000:]}")


def run_adopt(lab: FullLab, where: Path) -> float:
    make_agent_older(where)
    start = time.perf_counter()
    to_green(lab)
    return time.perf_counter() - start


def run_full(lab: FullLab, where: Path) -> float:
    record = client.running(where)
    assert record is not None, "no agent"
    make_agent_older(where)
    start = time.perf_counter()
    client.stop(where)
    client.start(where, record.endpoint, record.region, repo_root=lab.project)
    to_green(lab)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, list[float]] = {"adopt": [], "full": []}
    with tempfile.TemporaryDirectory(prefix="vpclab-bench-restart-") as tmp:
        with full_lab(Path(tmp)) as lab:
            where = local_dir(lab.spec)
            for i in range(args.runs):
                for name, run in (("adopt", run_adopt), ("full", run_full)):
                    secs = run(lab, where)
                    figures[name].append(secs)
                    print(f"run {i + 1} {name}: {secs:.1f} s", flush=True)
    print(f"restart to green, {args.runs} runs (seconds)")
    print(f"{'restart':<8} {'median':>7} {'min':>7} {'max':>7}")
    for name, secs in figures.items():
        print(f"{name:<8} {statistics.median(secs):>7.1f} {min(secs):>7.1f} {max(secs):>7.1f}")


if __name__ == "__main__":
    main()

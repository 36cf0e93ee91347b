"""How long the Jenkinsfile's stages take when the local runner runs them in a workspace on
this machine (a fresh clone each run, so Build makes a new venv every time).

    python benchmarks/bench_pipeline.py [--runs 3] [--branch bench]

On a branch other than main, Deploy and Verify are skipped by their `when`, so this times
Build, Test and Security. Vulnerability data is unreachable here, so Security is UNSTABLE.
Prints the median of each stage and of the whole build.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

from vpclab.pipeline import builds
from vpclab.pipeline.jenkinsfile import load
from vpclab.pipeline.runner import BuildInfo, run
from vpclab.pipeline.workspace import LocalWorkspace

ROOT = Path(__file__).resolve().parents[1]


def once(branch: str, scratch: Path) -> builds.BuildSummary:
    ws = scratch / "ws"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(ws)], check=True)
    commit = subprocess.run(
        ["git", "-C", str(ws), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    number, folder = builds.new_build(scratch / "builds")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "OSV_URL": "http://127.0.0.1:9/v1/query"}
    info = BuildInfo(number, branch, commit, folder)
    return run(load(ws / "Jenkinsfile"), LocalWorkspace(ws, env), info, say=lambda _l: None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--branch", default="bench")
    args = parser.parse_args()
    runs = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as scratch:
            summary = once(args.branch, Path(scratch))
        runs.append(summary)
        stages = ", ".join(f"{s.name} {s.result} {s.seconds:.1f} s" for s in summary.stages)
        print(f"run {i + 1}: {summary.result} {summary.seconds:.1f} s ({stages})")
    for name in [s.name for s in runs[0].stages]:
        times = [r.stage(name).seconds for r in runs if r.stage(name).result != "SKIPPED"]
        if times:
            print(f"median {name}: {statistics.median(times):.1f} s")
    print(f"median build: {statistics.median(r.seconds for r in runs):.1f} s")


if __name__ == "__main__":
    main()

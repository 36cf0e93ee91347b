"""How long the Jenkinsfile's stages take.

    python benchmarks/bench_pipeline.py [--runs 3] [--branch bench]
    python benchmarks/bench_pipeline.py --lab [--runs 3]          # as root

Without --lab, the local runner runs them in a workspace on this machine (a fresh clone each
run, so Build makes a new venv every time); on a branch other than main, Deploy and Verify
are skipped by their `when`, so this times Build, Test and Security.

With --lab, a whole local lab of its own (own name, state folder, moto server and a
throwaway clone of the project as its git remote) is brought up, then `vpclab pipeline run`
runs the full pipeline on its Jenkins host, all five stages, each run a new commit (so each
deploys), the CI venv kept between runs as a Jenkins workspace keeps it. The lab is removed
afterwards. Vulnerability data is unreachable, so Security is UNSTABLE.
Prints the median of each stage and of the whole build.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def lab_of_its_own(scratch: Path) -> Iterator[tuple[Path, Path]]:
    """(spec, project): a full local lab whose git remote serves a clone of the project."""
    from vpclab.throwaway import throwaway_lab

    with throwaway_lab(scratch, f"bp{os.getpid() % 100000}") as lab:
        up = lab.cli("up")
        if up.returncode != 0:
            raise SystemExit(f"vpclab up failed:\n{up.stdout[-3000:]}{up.stderr[-3000:]}")
        yield lab.spec, lab.project


def on_lab(runs: int) -> list[builds.BuildSummary]:
    from vpclab.lab import Lab

    found = []
    with tempfile.TemporaryDirectory() as scratch, lab_of_its_own(Path(scratch)) as (spec, repo):
        lab = Lab(spec, "local", say=lambda _line: None)
        for i in range(runs):
            (repo / "BENCH.md").write_text(f"run {i}\n")
            subprocess.run(["git", "-C", str(repo), "add", "BENCH.md"], check=True)
            subprocess.run(
                ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@example.com",
                 "commit", "-qm", f"bench {i}"],
                check=True,
            )  # fmt: skip
            found.append(lab.pipeline_run())
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--branch", default="bench")
    parser.add_argument("--lab", action="store_true", help="the full pipeline on a local lab")
    args = parser.parse_args()
    runs = []
    if args.lab:
        runs = on_lab(args.runs)
    else:
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as scratch:
                runs.append(once(args.branch, Path(scratch)))
    for i, summary in enumerate(runs):
        stages = ", ".join(f"{s.name} {s.result} {s.seconds:.1f} s" for s in summary.stages)
        print(f"run {i + 1}: {summary.result} {summary.seconds:.1f} s ({stages})")
    for name in [s.name for s in runs[0].stages]:
        times = [r.stage(name).seconds for r in runs if r.stage(name).result != "SKIPPED"]
        if times:
            print(f"median {name}: {statistics.median(times):.1f} s")
    print(f"median build: {statistics.median(r.seconds for r in runs):.1f} s")


if __name__ == "__main__":
    main()

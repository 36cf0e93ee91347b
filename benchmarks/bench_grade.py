"""Benchmark: `vpclab grade` on a class of copies of the reference submission.

For each --jobs value it grades the class once and reports the wall time, the median time a
submission took, the peak memory per lab (the grading process plus its largest child, the
kernel or the moto server) and the busy CPU seconds per lab: the grading's own (a cgroup),
as root where the cpuacct controller is mounted, else the whole machine's. As root on Linux
each lab gets its own hosts unless --no-hosts; otherwise the data plane is off, and the
report says so.

As root it grades the class twice, with and without the kernel jail (a throwaway user, its
own mount namespace and /proc, a firewall to the relay, and with hosts the grader's
namespace broker), and the difference is the jail's cost per lab.

Usage: python benchmarks/bench_grade.py [--students 10] [--jobs 1 2 4] [--no-hosts]
       [--jail both|on|off]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from vpclab import blanks
from vpclab.course import jail
from vpclab.course.grade import GradeSettings, grade
from vpclab.course.overlay import SANITIZE
from vpclab.localcloud import netns

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def make_class(folder: Path, students: int) -> list[Path]:
    subs = []
    for n in range(students):
        sub = folder / f"student{n:02d}"
        sub.mkdir()
        for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"):
            shutil.copy(path, sub / path.name)
        # The project's files with blanks too, as a student hands them in: a missing one is
        # graded as its blank.
        for blank in blanks.FILES:
            (sub / blank.path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / blank.path, sub / blank.path)
        subs.append(sub)
    return subs


class CpuMeter:
    """Busy CPU seconds of the grading: its own cpuacct cgroup where root can make one (this
    process moves in, so every lab process it starts, hosts, moto and agents included, is
    counted, and nothing else), else the whole machine's /proc/stat (other load too: on a
    shared machine that figure can be several times the labs' own)."""

    def __init__(self) -> None:
        self.group: Path | None = None
        base = Path("/sys/fs/cgroup/cpuacct")
        if os.geteuid() == 0 and (base / "cpuacct.usage").exists():
            try:
                group = base / f"vpclab-bench-grade-{os.getpid()}"
                group.mkdir(exist_ok=True)
                (group / "cgroup.procs").write_text(str(os.getpid()))
                self.group = group
            except OSError:
                self.group = None
        self.source = "this benchmark's cgroup" if self.group else "the whole machine"

    def seconds(self) -> float:
        if self.group is not None:
            return int((self.group / "cpuacct.usage").read_text()) / 1e9
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        """Back to the parent group, and the group removed (kept if a process stayed in it)."""
        if self.group is not None:
            (self.group.parent / "cgroup.procs").write_text(str(os.getpid()))
            with contextlib.suppress(OSError):
                self.group.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--no-hosts", action="store_true")
    parser.add_argument("--jail", choices=("both", "on", "off"), default="both")
    args = parser.parse_args()
    hosts = not args.no_hosts and netns.unsupported_reason() is None
    can_jail = jail.unsupported_reason() is None
    jails = {"both": [False, True], "on": [True], "off": [False]}[args.jail]
    jails = [j for j in jails if can_jail or not j] or [False]
    settings = GradeSettings(NOTEBOOKS, ROOT / "lab.toml", SANITIZE, hosts=hosts)
    meter = CpuMeter()
    try:
        run_all(args, settings, hosts, jails, meter)
    finally:
        meter.close()


def run_all(
    args: argparse.Namespace,
    settings: GradeSettings,
    hosts: bool,
    jails: list[bool],
    meter: CpuMeter,
) -> None:
    print(
        f"{args.students} copies of the reference submission; hosts: {hosts}; "
        f"{os.cpu_count()} CPUs; monitoring timings: "
        + ("fast" if settings.fast_monitoring else "the spec's")
        + f"; busy CPU counted in {meter.source}"
    )
    print(
        f"{'jail':>4} {'jobs':>4} {'wall s':>8} {'per lab s (median)':>19} {'peak MB per lab':>16}"
        f" {'CPU s per lab':>14} full marks"
    )
    with tempfile.TemporaryDirectory(prefix="vpclab-bench-grade-") as tmp:
        subs = make_class(Path(tmp), args.students)
        for jailed, jobs in [(j, n) for j in jails for n in args.jobs]:
            run = GradeSettings(NOTEBOOKS, ROOT / "lab.toml", SANITIZE, hosts=hosts, jail=jailed)
            started, cpu = time.monotonic(), meter.seconds()
            results = grade(subs, run, jobs=jobs, say=lambda _line: None)
            wall = time.monotonic() - started
            cpu_per_lab = (meter.seconds() - cpu) / len(results)
            per_lab = statistics.median(r.seconds for r in results)
            peak = max(r.peak_rss_mb for r in results)
            bad = ("FAIL", "ERROR", "CAUGHT-UP")
            full = sum(not any(s.score in bad for s in r.steps) for r in results)
            print(
                f"{'on' if jailed else 'off':>4} {jobs:>4} {wall:>8.1f} {per_lab:>19.1f}"
                f" {peak:>16.0f} {cpu_per_lab:>14.0f} {full}/{len(results)}"
            )
            # Where a lab's time goes, and what kept a copy of the reference from full marks.
            steps = [s.step for s in results[0].steps]
            medians = {
                step: statistics.median(
                    s.seconds for r in results for s in r.steps if s.step == step
                )
                for step in steps
            }
            print(
                "     per step s (median): " + ", ".join(f"{k} {v:.0f}" for k, v in medians.items())
            )
            for r in results:
                for s in r.steps:
                    if s.score in bad:
                        # Whole: a checkpoint's difference names both lines at its end.
                        print(f"     {r.name} {s.step} {s.score}: {(s.reasons or ['?'])[0]}")


if __name__ == "__main__":
    main()

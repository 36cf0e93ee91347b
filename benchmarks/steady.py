"""Steady benchmark figures, shared by the load benchmarks.

On a shared 2-core machine one round says little: the scheduler may put the load generator
and the server on one core or on two, and rates jump between modes (about 400 against
1000-1300 req/s were seen). So a benchmark here pins the load generator and the server to
different cores where it can, runs at least MIN_ROUNDS rounds alternating its sides (the
order flips each round, so a drift hits both sides alike), and reports each figure as the
median of its rounds with their spread, (max - min) / median. A figure whose spread is over
MAX_SPREAD is printed as unsteady, with its rounds, and never as a result.

The machine is a guest of a hypervisor that runs other guests on the same CPUs: /proc/stat's
steal column counts the time they took while this machine had work, at times a fifth of a
CPU for minutes on end, and rounds measured then ran a quarter slower. A round in which
steal passed MAX_STEAL of the machine's CPU time is dropped, both sides, and run again, a
bounded number of times (`alternate`).
"""

from __future__ import annotations

import math
import os
import re
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

MIN_ROUNDS = 5
MAX_SPREAD = 0.20
MAX_STEAL = 0.02  # of the machine's CPU time in a round, taken by other guests

T = TypeVar("T")


@dataclass(frozen=True)
class Figure:
    """One measured quantity: every round's value, summed up as a median and its spread."""

    name: str
    rounds: tuple[float, ...]
    unit: str = "req/s"

    @property
    def median(self) -> float:
        return statistics.median(self.rounds) if self.rounds else math.nan

    @property
    def spread(self) -> float:
        """(max - min) / median: 0.2 means the rounds range over 20% of the median."""
        if not self.rounds or self.median <= 0:
            return math.inf
        return (max(self.rounds) - min(self.rounds)) / self.median

    @property
    def steady(self) -> bool:
        return len(self.rounds) >= MIN_ROUNDS and self.spread <= MAX_SPREAD

    def verdict(self, digits: int = 1) -> str:
        """The median and spread, or "unsteady" with why; every round either way."""
        rounds = " ".join(f"{v:.{digits}f}" for v in self.rounds)
        if self.steady:
            return (
                f"{self.median:.{digits}f} {self.unit}   spread {self.spread:.0%}   "
                f"rounds: {rounds}"
            )
        why = (
            f"only {len(self.rounds)} rounds (at least {MIN_ROUNDS})"
            if len(self.rounds) < MIN_ROUNDS
            else f"spread {self.spread:.0%} > {MAX_SPREAD:.0%}"
        )
        return f"unsteady: {why}, no result   rounds ({self.unit}): {rounds}"

    def line(self, width: int = 0, digits: int = 1) -> str:
        head = f"{self.name:<{width}}" if width else f"{self.name}: "
        return head + self.verdict(digits)


def paired_ratio(name: str, top: Figure, bottom: Figure) -> Figure:
    """Each round's top / bottom: the two ran back to back, so the ratio cancels most of what
    the machine did to both."""
    pairs = tuple(a / b for a, b in zip(top.rounds, bottom.rounds, strict=True) if b > 0)
    return Figure(name, pairs, "x")


def cost_line(what: str, ratio: Figure, goal: str = "") -> str:
    """`what` as 1 - ratio, e.g. a proxy's share of lost throughput, or why there is none."""
    if not ratio.steady:
        return f"{what}: {ratio.verdict(digits=2)}"
    tail = f" (goal: {goal})" if goal else ""
    return (
        f"{what}: {1 - ratio.median:+.1%} of throughput{tail}; "
        f"paired rounds' spread {ratio.spread:.0%}"
    )


def change_line(what: str, ratio: Figure) -> str:
    """`what` as ratio - 1, e.g. how much more CPU a request takes, or why there is none."""
    if not ratio.steady:
        return f"{what}: {ratio.verdict(digits=2)}"
    return f"{what}: {ratio.median - 1:+.1%}; paired rounds' spread {ratio.spread:.0%}"


CpuTimes = tuple[int, int]  # (steal, all) clock ticks of every CPU so far


def cpu_times() -> CpuTimes:
    """The machine's steal and total CPU time so far, from /proc/stat's first line (user to
    steal; guest time is already counted in user)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return ticks[7], sum(ticks)


def stolen(before: CpuTimes, after: CpuTimes) -> float:
    """The share of the machine's CPU time other guests took between two readings."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else 0.0


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def alternate(
    sides: Sequence[str],
    rounds: int,
    run: Callable[[str], T],
    *,
    redo: int = 0,
    clock: Callable[[], CpuTimes] = cpu_times,
    say: Callable[[str], None] = _to_stderr,
) -> dict[str, list[T]]:
    """`run` each side once a round, for `rounds` rounds, the order reversed every other
    round (A B, B A, A B, ...). A round in which other guests took more than MAX_STEAL of
    the machine's CPU time is dropped, both sides (so the rounds stay pairs), and run again,
    at most `redo` times in all; past that it is kept, and `say` tells which."""
    results: dict[str, list[T]] = {side: [] for side in sides}
    dropped = 0
    while len(results[sides[0]]) < rounds:
        index = len(results[sides[0]])
        before = clock()
        ran = {side: run(side) for side in (sides if index % 2 == 0 else reversed(sides))}
        share = stolen(before, clock())
        if share > MAX_STEAL:
            took = f"round {index + 1}: other guests took {share:.0%} of the CPUs"
            if dropped < redo:
                dropped += 1
                say(f"{took}; run again")
                continue
            say(f"{took}; kept (no more rounds may be run again)")
        for side in sides:
            results[side].append(ran[side])
    return results


@dataclass(frozen=True)
class Cores:
    """Which CPUs the load generator and the servers get, as taskset lists."""

    load: str
    server: str
    every: str

    def describe(self) -> str:
        return f"load generator on CPU {self.load}, servers on CPU {self.server}"


def _cpu_list(cpus: Sequence[int]) -> str:
    return ",".join(str(c) for c in cpus)


def machine() -> str:
    """The CPUs and the load other jobs put on them: what an "unsteady" is read against."""
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {one:.1f} (1 min), {five:.1f} (5 min)"


def plan_cores(available: Sequence[int] | None = None) -> Cores | None:
    """The first CPU for the load generator and the rest for the servers; None with fewer
    than two CPUs (nothing to separate)."""
    cpus = sorted(os.sched_getaffinity(0) if available is None else available)
    if len(cpus) < 2:
        return None
    return Cores(str(cpus[0]), _cpu_list(cpus[1:]), _cpu_list(cpus))


def taskset(cores: str | None, command: str) -> str:
    """`command` started on `cores` (as is when there are none)."""
    return f"taskset -c {cores} {command}" if cores else command


def host_processes(netns: str, pattern: str) -> list[int]:
    """The machine's PIDs of a local lab host's processes whose command line matches `pattern`
    (a regular expression): every process of a host lives in the host's network namespace."""
    listed = subprocess.run(
        ["ip", "netns", "pids", netns], capture_output=True, text=True, check=True, timeout=10
    )
    return matching((int(pid) for pid in listed.stdout.split()), pattern)


def matching(pids: Iterable[int], pattern: str) -> list[int]:
    """Those of `pids` whose command line matches `pattern`; gone processes are left out."""
    found = []
    for pid in pids:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if re.search(pattern, argv):
            found.append(pid)
    return found


def pin(pids: Iterable[int], cores: str) -> int:
    """Pins every thread of each process to `cores` (a taskset list such as "1,2") from the
    machine, and returns how many processes it pinned. From the machine, because inside a
    local host root lacks CAP_SYS_NICE (the hosts' capability set leaves it out, so lab code
    cannot starve the machine) and may not move another user's process, e.g. nginx's workers."""
    cpus = {int(c) for c in cores.split(",")}
    pinned = 0
    for pid in pids:
        try:
            for thread in os.listdir(f"/proc/{pid}/task"):
                os.sched_setaffinity(int(thread), cpus)
        except (FileNotFoundError, ProcessLookupError):
            continue
        pinned += 1
    return pinned


def time_wait_reuse(netns: str, value: str) -> str:
    """Sets `net.ipv4.tcp_tw_reuse` in a network namespace (the setting is per namespace) and
    returns what it was. 1 lets new outgoing connections reuse TIME_WAIT ports; Ubuntu's
    default 2 allows that on loopback only."""

    def sysctl(*args: str) -> str:
        done = subprocess.run(
            ["ip", "netns", "exec", netns, "sysctl", *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        return done.stdout.strip()

    before = sysctl("-n", "net.ipv4.tcp_tw_reuse")
    sysctl("-q", "-w", f"net.ipv4.tcp_tw_reuse={value}")
    return before

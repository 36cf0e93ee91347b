"""A bounded wrk load run from inside a lab host, and what it measured, for the benchmarks.

Bounded three ways, and each run stops by itself: the benchmark's whole load is at most
MAX_LOAD_SECONDS (or the benchmark's own bound), a run's threads stop after MAX_REQUESTS
requests between them (a Lua `response` hook), and `timeout` kills wrk if it outlives its
duration. A run that hit the request cap is reported as an error: wrk divides by the full
duration, so its rate is wrong. Rounds, pinning and spreads: steady.py.
"""

from __future__ import annotations

import argparse
import math
import re
import shlex
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from steady import MIN_ROUNDS, Cores, Figure, host_processes, pin, taskset, time_wait_reuse

from vpclab import remote
from vpclab.errors import VpclabError
from vpclab.hosts.ssh import Host
from vpclab.lab import Lab
from vpclab.localcloud import names
from vpclab.paths import state_root
from vpclab.steps.context import Context

MAX_LOAD_SECONDS = 96  # of load in one benchmark run, every round and side together
REDO = 3  # rounds that other guests slowed (steady.alternate) that may be run again
MAX_CONNECTIONS = 64
MAX_REQUESTS = 500_000  # in one wrk run
THREADS = 2
SCRIPT = "/tmp/vpclab-wrk-bounded.lua"
# Each wrk thread has its own Lua state, so each counts its own share of the cap.
_STOP_AFTER = """local limit = {limit}
local seen = 0
function response(status, headers, body)
  seen = seen + 1
  if seen >= limit then wrk.thread:stop() end
end
"""


@dataclass(frozen=True)
class Run:
    rps: float
    p99_ms: float
    errors: int  # socket errors, non-2xx/3xx answers, and a hit request cap
    requests: int


@dataclass(frozen=True)
class Side:
    """One side's rounds: its requests/s as a Figure, the median p99 and all errors."""

    rps: Figure
    p99_ms: float
    errors: int


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(text: str, max_requests: int = MAX_REQUESTS) -> Run:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text)[1])
    requests = int(re.search(r"^\s*(\d+) requests in", text, re.M)[1])
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors += int(non2xx[1]) if non2xx else 0
    errors += 1 if requests >= max_requests else 0
    return Run(rps, _ms(p99[1], p99[2]) if p99 else float("nan"), errors, requests)


def setup(
    doc: str,
    who: str,
    *,
    path: str,
    seconds: int,
    connections: int,
    rounds: int = MIN_ROUNDS,
    max_load: int = MAX_LOAD_SECONDS,
) -> tuple[argparse.Namespace, Context]:
    """The benchmark's options (the load within the bounds) and the lab it loads, whose
    hosts must be reachable; else exit with the reason."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--spec", default="lab.toml")
    parser.add_argument("--path", default=path)
    parser.add_argument("--seconds", type=int, default=seconds, help="of load a round and side")
    parser.add_argument("--rounds", type=int, default=rounds, help=f"at least {MIN_ROUNDS}")
    parser.add_argument("--connections", type=int, default=connections)
    parser.add_argument(
        "--redo", type=int, default=REDO, help="rounds slowed by other guests to run again"
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="leave the load generator and servers unpinned"
    )
    args = parser.parse_args()
    if args.rounds < MIN_ROUNDS:
        sys.exit(f"--rounds must be at least {MIN_ROUNDS}: fewer give no spread worth reading")
    if args.redo < 0:
        sys.exit("--redo must be 0 or more")
    if 2 * (args.rounds + args.redo) * args.seconds > max_load:  # two sides alternate
        sys.exit(f"at most {max_load} s of load: lower --rounds, --redo or --seconds")
    if not 1 <= args.connections <= MAX_CONNECTIONS:
        sys.exit(f"--connections must be 1 to {MAX_CONNECTIONS}")
    try:
        ctx = Lab(Path(args.spec), "local", say=lambda _line: None).context()
    except VpclabError as exc:
        sys.exit(f"{who}: {exc.line()}")
    reason = remote.unreachable(ctx)
    if reason:
        sys.exit(f"{who}: {reason}")
    return args, ctx


def wrk(host: Host, url: str, seconds: int, connections: int, cores: str | None = None) -> Run:
    """One bounded wrk run on `host` against `url`, on `cores` when given."""
    limit = math.ceil(MAX_REQUESTS / THREADS)
    host.put_text(_STOP_AFTER.format(limit=limit), SCRIPT, 0o644)
    cmd = (
        f"timeout -k 5 {seconds + 15} wrk -t{THREADS} -c{max(connections, THREADS)} "
        f"-d{seconds}s --latency -s {SCRIPT} {shlex.quote(url)}"
    )
    return parse_wrk(host.run(taskset(cores, cmd), timeout=seconds + 30).stdout, limit * THREADS)


def host_netns(ctx: Context, role: str) -> str:
    """The network namespace of a role's host in the local lab."""
    return names.netns(names.lab_id(ctx.spec.name, state_root(ctx.spec_path)), role)


@contextmanager
def reusing_time_wait(ctx: Context, role: str) -> Iterator[None]:
    """New outgoing connections from the role's host may reuse TIME_WAIT ports for the run;
    the previous setting comes back afterwards. gunicorn's sync workers close every
    connection, so without it the web host held about 13,700 TIME_WAIT sockets after two 6 s
    rounds, connect() searched the port range, system CPU rose from about 15% to 45% and the
    rate fell 3x: a figure of the port range, not of the proxy."""
    netns = host_netns(ctx, role)
    before = time_wait_reuse(netns, "1")
    try:
        yield
    finally:
        time_wait_reuse(netns, before)


@contextmanager
def pinned(ctx: Context, servers: list[tuple[str, str]], cores: Cores | None) -> Iterator[None]:
    """Each (role, command-line pattern) pair's processes on the server CPUs for the run, back
    on every CPU afterwards, even after a failure. Every process found must be pinned."""
    if cores is None:
        yield
        return
    found = {role: host_processes(host_netns(ctx, role), pattern) for role, pattern in servers}
    try:
        for (role, pattern), pids in zip(servers, found.values(), strict=True):
            count = pin(pids, cores.server)
            if not pids or count < len(pids):
                sys.exit(f"pinned {count} of {len(pids)} processes matching {pattern!r} on {role}")
            print(f"pinned {count} processes ({pattern}) on {role} to CPU {cores.server}")
        yield
    finally:
        for pids in found.values():
            pin(pids, cores.every)


def summarize(runs: dict[str, list[Run]]) -> dict[str, Side]:
    """Each side's requests/s (median and spread, or unsteady) and median p99, a line a side."""
    sides = {
        name: Side(
            Figure(name, tuple(r.rps for r in got)),
            statistics.median(r.p99_ms for r in got),
            sum(r.errors for r in got),
        )
        for name, got in runs.items()
    }
    width = max(map(len, sides)) + 2
    for side in sides.values():
        print(f"{side.rps.line(width)}   p99 {side.p99_ms:.1f} ms   errors {side.errors}")
    return sides


def exit_on_errors(sides: dict[str, Side], who: str) -> None:
    if any(side.errors for side in sides.values()):
        sys.exit(f"{who}: errors seen under load (socket errors, non-2xx answers or the cap)")

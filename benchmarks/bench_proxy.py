"""What the Nginx proxy costs: wrk from the web server, through Nginx on the web server
(127.0.0.1:80) against straight to gunicorn on the app server (private IP, app port).

    python benchmarks/bench_proxy.py [--spec lab.toml] [--path /healthz] [--seconds 8]

Needs a lab that is up through the scripts step (`make lab`, as root). Bounded: at most
60 s of load in all (runs alternate, median of each side), and only the lab's own hosts are
loaded (wrk runs inside the web host). Any socket error or non-2xx answer fails the run.
"""

from __future__ import annotations

import argparse
import re
import shlex
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from vpclab.lab import Lab
from vpclab.steps import remote

MAX_LOAD_SECONDS = 60


@dataclass(frozen=True)
class Run:
    rps: float
    p99_ms: float
    errors: int


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(text: str) -> Run:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text)[1])
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors += int(non2xx[1]) if non2xx else 0
    return Run(rps, _ms(p99[1], p99[2]) if p99 else float("nan"), errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="lab.toml")
    parser.add_argument("--path", default="/healthz")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if 2 * args.rounds * args.seconds > MAX_LOAD_SECONDS:
        sys.exit(f"at most {MAX_LOAD_SECONDS} s of load: lower --rounds or --seconds")

    lab = Lab(Path(args.spec), "local", say=lambda _line: None)
    ctx = lab.context()
    reason = remote.unreachable(ctx)
    if reason:
        sys.exit(f"bench_proxy: {reason}")
    app = remote.where(ctx, "app")
    targets = {
        "through nginx": f"http://127.0.0.1:{lab.spec.ports.http}{args.path}",
        "straight to app": f"http://{app.private_ip}:{lab.spec.ports.app}{args.path}",
    }
    web = remote.open_role(ctx, "web")
    runs: dict[str, list[Run]] = {name: [] for name in targets}
    try:
        for _ in range(args.rounds):
            for name, url in targets.items():
                cmd = f"wrk -t2 -c{args.connections} -d{args.seconds}s --latency {shlex.quote(url)}"
                out = web.run(cmd, timeout=args.seconds + 30).stdout
                runs[name].append(parse_wrk(out))
    finally:
        remote.close(web)

    print(f"path {args.path}, {args.connections} connections, {args.rounds} x {args.seconds} s")
    medians = {}
    for name, got in runs.items():
        rps = statistics.median(r.rps for r in got)
        p99 = statistics.median(r.p99_ms for r in got)
        errors = sum(r.errors for r in got)
        medians[name] = rps
        print(f"{name:<16} {rps:9.0f} req/s   p99 {p99:7.1f} ms   errors {errors}")
    cost = 1 - medians["through nginx"] / medians["straight to app"]
    print(f"proxy cost: {cost:.1%} of throughput (goal: under 15%)")
    if any(r.errors for got in runs.values() for r in got):
        sys.exit("bench_proxy: errors seen under load")


if __name__ == "__main__":
    main()

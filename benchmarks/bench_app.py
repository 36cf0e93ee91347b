#!/usr/bin/env python3
"""Bounded load test of the microblog under gunicorn on 127.0.0.1, with metrics on and off.

For each endpoint (/healthz, the logged-out login page, a logged-in timeline) it runs wrk for
a fixed duration, several times, and reports the median requests/s and median p50/p99
latency, plus the throughput ratio metrics-on / metrics-off (the goal: metrics cost < 10%).

Both servers run side by side and the runs are interleaved, so drift on a shared, noisy
machine hits both modes alike. Steady (steady.py): wrk on one CPU and gunicorn on the others,
at least 5 repeats, each figure a median with its spread, or "unsteady" past 20%. Traffic goes
to loopback only; every wrk run stops by itself after its duration or MAX_REQUESTS requests.

    .venv/bin/python benchmarks/bench_app.py                 # 5 repeats x 5 s per run
    .venv/bin/python benchmarks/bench_app.py --repeats 7 --duration 10 --json out.json
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steady import MIN_ROUNDS, Figure, change_line, cost_line, machine, paired_ratio, plan_cores

REPO_ROOT = Path(__file__).resolve().parents[1]
WRK = shutil.which("wrk") or "/usr/bin/wrk"
HOST = "127.0.0.1"  # never anything else
PASSWORD = "benchmark passphrase"
SEED = """
from app import create_app
from app.extensions import db
from app.models import Post, User

app = create_app()
with app.app_context():
    users = []
    for name in ("bench", "friend", "stranger"):
        user = User(username=name, email=name + "@example.com")
        user.set_password({password!r})
        db.session.add(user)
        users.append(user)
    bench, friend, stranger = users
    db.session.flush()
    bench.follow(friend)
    for i in range(60):
        author = (bench, friend, stranger)[i % 3]
        db.session.add(Post(body="benchmark post %d by %s" % (i, author.username), author=author))
    db.session.commit()
"""
ENDPOINTS = {
    "healthz": ("/healthz", False),
    "login page (logged out)": ("/auth/login", False),
    "timeline (logged in)": ("/", True),
}
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}
MAX_REQUESTS = 500_000  # in one wrk run, all threads together
# Each wrk thread has its own Lua state, so each stops after its share of the cap.
STOP_AFTER = """local seen = 0
function response(status, headers, body)
  seen = seen + 1
  if seen >= {limit} then wrk.thread:stop() end
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    mode: str
    port: int
    process: subprocess.Popen[bytes]
    cookie: str = ""
    log: Path = field(default_factory=Path)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # our own session only
                self.process.wait(timeout=5)


def on_cpus(cpus: set[int] | None) -> Any:
    """A preexec_fn that starts the child on `cpus` (its forks inherit them), or None."""
    return (lambda: os.sched_setaffinity(0, cpus)) if cpus else None


def start_server(mode: str, workdir: Path, workers: int, cpus: set[int] | None) -> Server:
    """gunicorn serving a seeded database, answering, and a logged-in cookie for it."""
    server = launch(mode, workdir, workers, cpus)
    server.cookie = log_in(server.url)
    return server


def launch(mode: str, workdir: Path, workers: int, cpus: set[int] | None) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "PROMETHEUS_"))}
    env.pop("DATABASE_URL", None)
    env.update(
        MICROBLOG_ENV="production",
        SECRET_KEY=os.urandom(24).hex(),
        MICROBLOG_DATA=str(workdir / "data"),
        METRICS_ENABLED="1" if mode == "on" else "0",
        GUNICORN_BIND=f"{HOST}:{port}",
        GUNICORN_WORKERS=str(workers),
        GUNICORN_ACCESS_LOG=str(workdir / "access.log"),  # a file, not the terminal
        APP_GIT_COMMIT="bench",
    )
    run = {"cwd": REPO_ROOT, "env": env, "check": True, "capture_output": True, "timeout": 120}
    subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"], **run)
    subprocess.run([sys.executable, "-c", SEED.format(password=PASSWORD)], **run)
    log = workdir / "gunicorn.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:create_app()"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=on_cpus(cpus),
        )
    server = Server(mode=mode, port=port, process=process, log=log)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(server.url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"gunicorn ({mode}) did not start:\n{log.read_text()}")
        time.sleep(0.2)
    return server


def log_in(base: str) -> str:
    """Log in through the real form (with its CSRF token); return the Cookie header value."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/auth/login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token, "login page has no CSRF token"
    form = urllib.parse.urlencode(
        {"csrf_token": token.group(1), "username": "bench", "password": PASSWORD}
    ).encode()
    home = opener.open(base + "/auth/login", data=form, timeout=10).read().decode()
    if "Hello, bench" not in home:
        raise RuntimeError("benchmark login failed")
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def to_ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", value)
    if not match:
        raise ValueError(f"unexpected wrk latency {value!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def own_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_cost(workers: int, repeats: int, cpus: set[int] | None) -> dict[str, Any]:
    """CPU time of one gunicorn start: the master and its workers, from launch until every
    worker has booted and the server sits idle (a lab starts gunicorn three times)."""
    rounds = []
    with tempfile.TemporaryDirectory(prefix="microblog-bench-start-") as tmp:
        for repeat in range(repeats):
            server = launch("on", Path(tmp) / str(repeat), workers, cpus)
            try:
                total, deadline = -1.0, time.monotonic() + 30
                while time.monotonic() < deadline:  # idle: nothing used CPU for 0.5 s
                    time.sleep(0.5)
                    pid = server.process.pid
                    now = own_cpu_seconds(pid) + workers_cpu_seconds(pid)
                    if now == total:
                        break
                    total = now
                rounds.append(total)
            finally:
                server.stop()
    figure = Figure(f"a start, {workers} workers", tuple(rounds), "CPU-s")
    print(f"\nCPU of a gunicorn start (master and workers, until idle; {repeats} repeats):")
    print(f"  {figure.line(24)}")
    return {"cpu_seconds": figure.median, "spread": figure.spread, "rounds": rounds}


def workers_cpu_seconds(master_pid: int) -> float:
    """User + system CPU time used so far by the children (workers) of a gunicorn master."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == master_pid:  # fields after "(comm)": state, ppid, ...
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def run_wrk(
    url: str,
    cookie: str | None,
    args: argparse.Namespace,
    master_pid: int | None = None,
    cpus: set[int] | None = None,
) -> dict[str, float]:
    """One bounded wrk run. With ``master_pid``, also the workers' CPU time per request:
    unlike throughput, that hardly changes when other jobs compete for the cores."""
    assert url.startswith(f"http://{HOST}:")
    cmd = [
        WRK,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(args.stop_script),
    ]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    cpu_before = workers_cpu_seconds(master_pid) if master_pid else 0.0
    done = subprocess.run(
        cmd + [url],
        capture_output=True,
        text=True,
        timeout=args.duration + 30,
        check=True,
        preexec_fn=on_cpus(cpus),
    )
    cpu_used = workers_cpu_seconds(master_pid) - cpu_before if master_pid else 0.0
    out = done.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    if not (rps and p50 and p99):
        raise RuntimeError(f"could not read wrk output:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    requests = re.search(r"(\d+) requests in", out)
    count = int(requests.group(1)) if requests else 0
    if count >= args.request_cap:
        raise RuntimeError(f"wrk hit its cap of {args.request_cap} requests: shorten --duration")
    return {
        "cpu_us_per_request": max(cpu_used, 0.0) / count * 1e6 if count else 0.0,
        "rps": float(rps.group(1)),
        "p50_ms": to_ms(p50.group(1)),
        "p99_ms": to_ms(p99.group(1)),
        "non_2xx": float(bad.group(1)) if bad else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


CPU_CHILD = """
import json, os, sys, time
sys.path.insert(0, {root!r})
from app import create_app
from app.extensions import db
from app.models import Post, User

app = create_app({{"MICROBLOG_ENV": "testing", "WTF_CSRF_ENABLED": False}})
with app.app_context():
    db.create_all()
    user = User(username="bench", email="bench@example.com")
    user.set_password("x" * 10)
    db.session.add(user)
    db.session.add_all(Post(body="post %d" % i, author=user) for i in range(40))
    db.session.commit()
client = app.test_client()
client.post("/auth/login", data={{"username": "bench", "password": "x" * 10}})
paths = ["/healthz", "/explore", "/"]
for path in paths:  # warm up
    for _ in range(20):
        assert client.get(path).status_code == 200
start = time.process_time()
for _ in range({n}):
    for path in paths:
        client.get(path)
print(json.dumps((time.process_time() - start) / ({n} * len(paths)) * 1e6))
"""


def cpu_cost(requests: int, repeats: int) -> dict[str, Any]:
    """CPU time per request with metrics on (multiprocess mode, as under gunicorn) and off.

    CPU time of one process, unlike throughput, hardly moves when other jobs share the
    machine, so this is the steadier measure of what the instrumentation itself costs.
    """
    code = CPU_CHILD.format(root=str(REPO_ROOT), n=requests)
    runs: dict[str, list[float]] = {"on": [], "off": []}
    with tempfile.TemporaryDirectory(prefix="microblog-bench-cpu-") as prom:
        for repeat in range(repeats):
            for mode in ("on", "off") if repeat % 2 == 0 else ("off", "on"):
                env = {k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS_")}
                env.pop("DATABASE_URL", None)
                env["METRICS_ENABLED"] = "1" if mode == "on" else "0"
                if mode == "on":
                    env["PROMETHEUS_MULTIPROC_DIR"] = prom
                    for stale in Path(prom).glob("*.db"):
                        stale.unlink()
                done = subprocess.run(
                    [sys.executable, "-c", code],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                runs[mode].append(float(done.stdout.strip().splitlines()[-1]))
    on, off = (
        Figure("metrics on", tuple(runs["on"]), "us"),
        Figure("metrics off", tuple(runs["off"]), "us"),
    )
    ratio = paired_ratio("on / off", on, off)
    print(f"\nCPU per request in one process (/healthz, /explore, /; {repeats} repeats):")
    print(f"  {on.line(14)}\n  {off.line(14)}")
    print(f"  {change_line('-> CPU per request with metrics', ratio)}")
    return {
        "us_per_request_on": on.median,
        "us_per_request_off": off.median,
        "runs": runs,
        "overhead": ratio.median - 1,
        "overhead_spread": ratio.spread,
    }


def load_test(
    args: argparse.Namespace, cores: Any, load_cpus: set[int] | None, server_cpus: set[int] | None
) -> dict[str, Any]:
    """wrk against gunicorn with metrics on and off, in back-to-back pairs: each endpoint's
    medians and spreads, and what metrics cost."""
    cpus = len(os.sched_getaffinity(0))
    samples: dict[str, dict[str, list[dict[str, float]]]] = {
        name: {"on": [], "off": []} for name in ENDPOINTS
    }
    with tempfile.TemporaryDirectory(prefix="microblog-bench-") as tmp:
        limit = -(-MAX_REQUESTS // args.threads)
        args.stop_script = Path(tmp) / "stop-after.lua"
        args.stop_script.write_text(STOP_AFTER.format(limit=limit))
        args.request_cap = limit * args.threads
        servers: dict[str, Server] = {}
        try:
            for mode in ("on", "off"):
                servers[mode] = start_server(mode, Path(tmp) / mode, args.workers, server_cpus)
            print(
                f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, "
                f"{args.repeats} repeats, gunicorn {args.workers} sync workers, {cpus} CPUs; "
                + (cores.describe() if cores else "not pinned")
                + f"; machine: {machine()}"
            )
            # Warm-up, discarded: first requests pay for imports, caches and connections.
            warm = argparse.Namespace(**{**vars(args), "duration": 1})
            for server in servers.values():
                for path, needs_login in ENDPOINTS.values():
                    cookie = server.cookie if needs_login else None
                    run_wrk(server.url + path, cookie, warm, cpus=load_cpus)
            for repeat in range(args.repeats):
                for name, (path, needs_login) in ENDPOINTS.items():
                    # On and off back to back, first one then the other, so the pair sees
                    # the same machine load; the ratio of each pair is what we keep.
                    order = ("on", "off") if repeat % 2 == 0 else ("off", "on")
                    for mode in order:
                        server = servers[mode]
                        cookie = server.cookie if needs_login else None
                        result = run_wrk(
                            server.url + path, cookie, args, server.process.pid, load_cpus
                        )
                        samples[name][mode].append(result)
                        print(
                            f"  run {repeat + 1} {name:<24} metrics {mode:<3} "
                            f"{result['rps']:8.1f} req/s  p50 {result['p50_ms']:6.2f} ms  "
                            f"p99 {result['p99_ms']:7.2f} ms  "
                            f"cpu {result['cpu_us_per_request']:6.0f} us/req",
                            flush=True,
                        )
        finally:
            for server in servers.values():
                server.stop()

    endpoints: dict[str, Any] = {}
    found: dict[str, Any] = {"endpoints": endpoints}
    print("\nrequests/s: median of the repeats and their spread ((max - min) / median)")
    ratios, cpu_ratios = [], []
    width = max(map(len, ENDPOINTS)) + 14
    for name in ENDPOINTS:
        entry: dict[str, Any] = {}
        figures = {}
        for mode in ("on", "off"):
            runs = samples[name][mode]
            figures[mode] = Figure(f"{name}, metrics {mode}", tuple(r["rps"] for r in runs))
            med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            entry[mode] = med | {"rps_spread": figures[mode].spread}
            print(
                f"  {figures[mode].line(width)}   p50 {med['p50_ms']:.2f} ms   "
                f"p99 {med['p99_ms']:.2f} ms   non-2xx {int(sum(r['non_2xx'] for r in runs))}"
            )
        ratio = paired_ratio(f"{name}: on / off", figures["on"], figures["off"])
        cpu = paired_ratio(
            f"{name}: cpu on / off",
            Figure("on", tuple(r["cpu_us_per_request"] for r in samples[name]["on"])),
            Figure("off", tuple(r["cpu_us_per_request"] for r in samples[name]["off"])),
        )
        entry |= {"ratio_on_off": ratio.median, "ratio_spread": ratio.spread}
        entry |= {"cpu_ratio_on_off": cpu.median, "cpu_ratio_spread": cpu.spread}
        ratios.append(ratio)
        cpu_ratios.append(cpu)
        endpoints[name] = entry
    print("\nwhat metrics cost, from back-to-back pairs (goal: throughput under 10%)")
    for ratio, cpu in zip(ratios, cpu_ratios, strict=True):
        print(f"  {cost_line(ratio.name + ' throughput', ratio, 'under 10%')}")
        print(f"  {change_line(cpu.name.replace(' on / off', '') + ' per request', cpu)}")
    steady_ratios = [r.median for r in ratios if r.steady]
    if len(steady_ratios) == len(ratios):
        overall = statistics.geometric_mean(steady_ratios)
        found["ratio_on_off_geomean"] = overall
        print(f"  all endpoints (geometric mean): metrics cost {1 - overall:+.1%} of throughput")
    else:
        print("  all endpoints: unsteady, no result (an endpoint's pairs spread over 20%)")

    return found


def main(argv: list[str] | None = None) -> int:
    cpus = len(os.sched_getaffinity(0))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument(
        "--repeats", type=int, default=MIN_ROUNDS, help="runs per endpoint and mode"
    )
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2 * cpus + 1, help="gunicorn workers")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--no-pin", action="store_true", help="leave wrk and gunicorn unpinned")
    parser.add_argument(
        "--cpu-requests",
        type=int,
        default=500,
        help="requests per endpoint for the in-process CPU-cost check (0: skip)",
    )
    parser.add_argument(
        "--starts", type=int, default=MIN_ROUNDS, help="gunicorn starts to measure (0: skip)"
    )
    parser.add_argument("--no-load", action="store_true", help="skip the wrk runs")
    args = parser.parse_args(argv)
    if not args.no_load and not Path(WRK).exists():
        print("bench_app: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    if not 1 <= args.duration <= 60 or not MIN_ROUNDS <= args.repeats <= 10:
        parser.error(f"keep it bounded and steady: --duration 1..60, --repeats {MIN_ROUNDS}..10")
    if args.starts and not MIN_ROUNDS <= args.starts <= 10:
        parser.error(f"keep it steady: --starts 0 or {MIN_ROUNDS}..10")
    cores = None if args.no_pin else plan_cores()
    load_cpus = {int(c) for c in cores.load.split(",")} if cores else None
    server_cpus = {int(c) for c in cores.server.split(",")} if cores else None
    report: dict[str, Any] = {
        "settings": {k: str(v) for k, v in vars(args).items()} | {"cpus": cpus},
        "endpoints": {},
    }
    if not args.no_load:
        report |= load_test(args, cores, load_cpus, server_cpus)
    if args.cpu_requests:
        report["cpu"] = cpu_cost(args.cpu_requests, args.repeats)
    if args.starts:
        report["start"] = start_cost(args.workers, args.starts, server_cpus)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Bounded load test of the microblog under gunicorn on 127.0.0.1, with metrics on and off.

For each endpoint (/healthz, the logged-out login page, a logged-in timeline) it runs wrk for
a fixed duration, several times, and reports the median requests/s and median p50/p99
latency, plus the throughput ratio metrics-on / metrics-off (the goal: metrics cost < 10%).

Both servers run side by side and the runs are interleaved, so drift on a shared, noisy
machine hits both modes alike. Traffic goes to loopback only, every wrk run stops by itself.

    .venv/bin/python benchmarks/bench_app.py                 # 3 repeats x 5 s per run
    .venv/bin/python benchmarks/bench_app.py --repeats 5 --duration 10 --json out.json
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


def start_server(mode: str, workdir: Path, workers: int) -> Server:
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
    server.cookie = log_in(server.url)
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
    url: str, cookie: str | None, args: argparse.Namespace, master_pid: int | None = None
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
    ]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    cpu_before = workers_cpu_seconds(master_pid) if master_pid else 0.0
    done = subprocess.run(
        cmd + [url], capture_output=True, text=True, timeout=args.duration + 30, check=True
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
    on, off = statistics.median(runs["on"]), statistics.median(runs["off"])
    print(f"\nCPU per request in one process (/healthz, /explore, /; median of {repeats}):")
    print(f"  metrics on  {on:8.1f} us\n  metrics off {off:8.1f} us")
    print(f"  -> metrics cost {on - off:.1f} us per request = {100 * (on / off - 1):.1f}% CPU")
    return {
        "us_per_request_on": on,
        "us_per_request_off": off,
        "runs": runs,
        "overhead": on / off - 1,
    }


def main(argv: list[str] | None = None) -> int:
    cpus = len(os.sched_getaffinity(0))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per endpoint and mode")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2 * cpus + 1, help="gunicorn workers")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--cpu-requests",
        type=int,
        default=500,
        help="requests per endpoint for the in-process CPU-cost check (0: skip)",
    )
    args = parser.parse_args(argv)
    if not Path(WRK).exists():
        print("bench_app: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    if not 1 <= args.duration <= 60 or not 1 <= args.repeats <= 10:
        parser.error("keep it bounded: --duration 1..60, --repeats 1..10")

    samples: dict[str, dict[str, list[dict[str, float]]]] = {
        name: {"on": [], "off": []} for name in ENDPOINTS
    }
    with tempfile.TemporaryDirectory(prefix="microblog-bench-") as tmp:
        servers: dict[str, Server] = {}
        try:
            for mode in ("on", "off"):
                servers[mode] = start_server(mode, Path(tmp) / mode, args.workers)
            print(
                f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, "
                f"{args.repeats} repeats, gunicorn {args.workers} sync workers, {cpus} CPUs"
            )
            # Warm-up, discarded: first requests pay for imports, caches and connections.
            warm = argparse.Namespace(**{**vars(args), "duration": 1})
            for server in servers.values():
                for path, needs_login in ENDPOINTS.values():
                    run_wrk(server.url + path, server.cookie if needs_login else None, warm)
            for repeat in range(args.repeats):
                for name, (path, needs_login) in ENDPOINTS.items():
                    # On and off back to back, first one then the other, so the pair sees
                    # the same machine load; the ratio of each pair is what we keep.
                    order = ("on", "off") if repeat % 2 == 0 else ("off", "on")
                    for mode in order:
                        server = servers[mode]
                        cookie = server.cookie if needs_login else None
                        result = run_wrk(server.url + path, cookie, args, server.process.pid)
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

    report: dict[str, Any] = {
        "settings": vars(args) | {"json": str(args.json or ""), "cpus": cpus},
        "endpoints": {},
    }
    print("\nmedians")
    print(
        f"{'endpoint':<25}{'metrics':<9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'cpu us/req':>11}{'non-2xx':>9}"
    )
    ratios = []
    for name in ENDPOINTS:
        entry: dict[str, Any] = {}
        for mode in ("on", "off"):
            runs = samples[name][mode]
            med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            entry[mode] = med
            print(
                f"{name:<25}{mode:<9}{med['rps']:>9.1f}{med['p50_ms']:>9.2f}"
                f"{med['p99_ms']:>9.2f}{med['cpu_us_per_request']:>11.0f}"
                f"{int(sum(r['non_2xx'] for r in runs)):>9}"
            )
        pairs = [
            a["rps"] / b["rps"]
            for a, b in zip(samples[name]["on"], samples[name]["off"], strict=True)
        ]
        entry["pair_ratios"] = pairs
        entry["ratio_on_off"] = statistics.median(pairs)
        ratios.append(entry["ratio_on_off"])
        report["endpoints"][name] = entry
    overall = statistics.geometric_mean(ratios)
    report["ratio_on_off_geomean"] = overall
    print("\nthroughput ratio metrics on / off, median of back-to-back pairs (goal >= 0.90)")
    for name in ENDPOINTS:
        entry = report["endpoints"][name]
        # The spread shows how much of the difference the machine's noise could explain.
        print(
            f"  {name:<25}{entry['ratio_on_off']:6.3f}   pairs ranged "
            f"{min(entry['pair_ratios']):.2f}..{max(entry['pair_ratios']):.2f}"
        )
    print(f"  {'geometric mean':<25}{overall:6.3f}  -> metrics cost {100 * (1 - overall):.1f}%")

    print("\ngunicorn workers' CPU per request, metrics on / off (1.00 = free; goal <= 1.10)")
    cpu_ratios = []
    for name in ENDPOINTS:
        entry = report["endpoints"][name]
        on, off = entry["on"]["cpu_us_per_request"], entry["off"]["cpu_us_per_request"]
        entry["cpu_ratio_on_off"] = on / off if off else float("nan")
        cpu_ratios.append(entry["cpu_ratio_on_off"])
        print(f"  {name:<25}{entry['cpu_ratio_on_off']:6.3f}   ({on:.0f} vs {off:.0f} us)")
    report["cpu_ratio_on_off_geomean"] = statistics.geometric_mean(cpu_ratios)
    print(f"  {'geometric mean':<25}{report['cpu_ratio_on_off_geomean']:6.3f}")

    if args.cpu_requests:
        report["cpu"] = cpu_cost(args.cpu_requests, args.repeats)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

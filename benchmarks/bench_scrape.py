"""What Prometheus' scraping costs the app: the app's requests/s while Prometheus scrapes
every target every 5 s, against the same load with Prometheus stopped (no scraping), in one
run with the two sides alternating.

    python benchmarks/bench_scrape.py [--spec lab.toml] [--path /explore] [--seconds 10]

Needs a lab that is up through the monitoring step (`make lab`, as root). Steady (steady.py):
wrk on one CPU, gunicorn on the others (Prometheus is left where the scheduler puts it: its own
work is part of what scraping costs), at least 5 rounds a side alternating, each figure a
median with its spread, or "unsteady"; a round other guests of the hypervisor slowed is run
again (--redo times at most). Bounded (see wrkload.py): at most 160 s of load in all, rounds
run again included, and only the lab's own hosts are loaded (wrk runs inside the web host,
straight at the app server's private address). The monitoring server gets a prometheus.yml with
a 5 s interval for the run (checked by promtool first); the lab's own file is put back and
Prometheus running again at the end, even after a failure.
"""

from __future__ import annotations

import sys
import time

from steady import alternate, cost_line, machine, paired_ratio, plan_cores
from wrkload import Run, exit_on_errors, pinned, reusing_time_wait, setup, summarize, wrk

from vpclab import remote
from vpclab.errors import VpclabError
from vpclab.facts import server_apis
from vpclab.hosts.ssh import Host
from vpclab.monitoring import config
from vpclab.steps import monitoring
from vpclab.steps.context import Context

INTERVAL = "5s"
MAX_LOAD = 160  # s: 5 rounds (and 3 run again) of 10 s a side meet two scrapes a round
SCRAPING, QUIET = "scraping every 5 s", "no scraping"


def _ready(ctx: Context, timeout: float = 60.0) -> None:
    """Prometheus answers queries again after a start (its TSDB replays its WAL first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            server_apis.prometheus_of(ctx).query("up")
            return
        except (OSError, ValueError, VpclabError):
            time.sleep(0.5)
    sys.exit("bench_scrape: Prometheus did not come back within 60 s")


def _scrapes(ctx: Context, seconds: float) -> int:
    """Scrapes of every target (up samples) in the last `seconds`: proof the load met them."""
    series = server_apis.prometheus_of(ctx).query(f"sum(count_over_time(up[{int(seconds)}s]))")
    return int(series[0].values[0]) if series else 0


def _set_prometheus(ctx: Context, mon: Host, running: bool) -> None:
    verb = "start" if running else "stop"
    mon.run(f"supervisorctl {verb} prometheus >/dev/null || true", sudo=True)
    if running:
        _ready(ctx)
        time.sleep(6)  # one whole interval, so the load meets steady scraping


def main() -> None:
    args, ctx = setup(
        __doc__, "bench_scrape", path="/explore", seconds=10, connections=8, max_load=MAX_LOAD
    )
    app = remote.where(ctx, "app")
    url = f"http://{app.private_ip}:{ctx.spec.ports.app}{args.path}"
    fast = ctx.spec.model_copy(
        update={"monitoring": ctx.spec.monitoring.model_copy(update={"scrape_interval": INTERVAL})}
    )
    cores = None if args.no_pin else plan_cores()
    web = remote.open_role(ctx, "web")
    mon = remote.open_role(ctx, "monitoring")
    original = remote.read_file(mon, config.PROMETHEUS_YML)
    if original is None:
        sys.exit("bench_scrape: no prometheus.yml on the monitoring server: run 'make lab'")
    scrapes: list[int] = []

    def one_round(side: str) -> Run:
        _set_prometheus(ctx, mon, side == SCRAPING)
        run = wrk(web, url, args.seconds, args.connections, cores.load if cores else None)
        if side == SCRAPING:
            scrapes.append(_scrapes(ctx, args.seconds))
        return run

    try:
        monitoring.install_configs(
            mon, {config.PROMETHEUS_YML: config.prometheus_yml(fast, monitoring.servers(ctx))}
        )
        mon.run("supervisorctl restart prometheus >/dev/null", sudo=True)
        with reusing_time_wait(ctx, "web"), pinned(ctx, [("app", "gunicorn")], cores):
            runs = alternate([SCRAPING, QUIET], args.rounds, one_round, redo=args.redo)
    finally:
        mon.put_text(original, config.PROMETHEUS_YML, 0o644, sudo=True, owner="root:root")
        mon.run("supervisorctl start prometheus >/dev/null || true", sudo=True)
        mon.run("supervisorctl signal HUP prometheus >/dev/null", sudo=True, check=False)
        for host in (mon, web):
            remote.close(host)

    print(
        f"GET {args.path} straight to the app, {args.connections} connections, "
        f"{args.rounds} x {args.seconds} s a side, alternating"
    )
    print((cores.describe() if cores else "not pinned") + f"; machine: {machine()}")
    sides = summarize(runs)
    targets = len(config.scrape_targets(ctx.spec, monitoring.servers(ctx)))
    print(f"scrapes of the {targets} targets in each scraping round: {scrapes}")
    ratio = paired_ratio("scraping / none", sides[SCRAPING].rps, sides[QUIET].rps)
    print(cost_line("scrape overhead", ratio))
    exit_on_errors(sides, "bench_scrape")


if __name__ == "__main__":
    main()

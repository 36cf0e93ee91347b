"""What the Nginx proxy costs: wrk from the web server, through Nginx on the web server
(HTTPS on 127.0.0.1:443, as users reach it: TLS is part of the proxy's cost; port 80 only
redirects) against straight to gunicorn on the app server (private IP, app port).

    python benchmarks/bench_proxy.py [--spec lab.toml] [--path /healthz] [--seconds 6]

Needs a lab that is up through the scripts step (`make lab`, as root). Steady (steady.py): wrk
on one CPU, Nginx and gunicorn on the others, at least 5 rounds with the sides alternating,
each figure a median with its spread, or "unsteady"; a round other guests of the hypervisor
slowed is run again (--redo times at most). Bounded (wrkload.py): at most 96 s of load in all,
rounds run again included, and only the lab's own hosts are loaded (wrk runs inside the web
host). Any socket error or non-2xx answer fails the run.
"""

from __future__ import annotations

from steady import alternate, cost_line, machine, paired_ratio, plan_cores
from wrkload import exit_on_errors, pinned, reusing_time_wait, setup, summarize, wrk

from vpclab import remote

PROXIED, DIRECT = "through nginx", "straight to app"


def main() -> None:
    args, ctx = setup(__doc__, "bench_proxy", path="/healthz", seconds=6, connections=16)
    app = remote.where(ctx, "app")
    targets = {
        PROXIED: f"https://127.0.0.1:{ctx.spec.ports.https}{args.path}",
        DIRECT: f"http://{app.private_ip}:{ctx.spec.ports.app}{args.path}",
    }
    cores = None if args.no_pin else plan_cores()
    web = remote.open_role(ctx, "web")
    try:
        with (
            reusing_time_wait(ctx, "web"),
            pinned(ctx, [("web", "^nginx"), ("app", "gunicorn")], cores),
        ):
            load = cores.load if cores else None
            runs = alternate(
                list(targets),
                args.rounds,
                lambda side: wrk(web, targets[side], args.seconds, args.connections, load),
                redo=args.redo,
            )
    finally:
        remote.close(web)

    print(f"path {args.path}, {args.connections} connections, {args.rounds} x {args.seconds} s")
    print((cores.describe() if cores else "not pinned") + f"; machine: {machine()}")
    sides = summarize(runs)
    ratio = paired_ratio("proxied / direct", sides[PROXIED].rps, sides[DIRECT].rps)
    print(cost_line("proxy cost", ratio, "under 15%"))
    exit_on_errors(sides, "bench_proxy")


if __name__ == "__main__":
    main()

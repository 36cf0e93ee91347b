"""What the Nginx proxy costs: wrk from the web server, through Nginx on the web server
(127.0.0.1:80) against straight to gunicorn on the app server (private IP, app port).

    python benchmarks/bench_proxy.py [--spec lab.toml] [--path /healthz] [--seconds 8]

Needs a lab that is up through the scripts step (`make lab`, as root). Bounded (see wrkload.py):
at most 60 s of load in all (runs alternate, median of each side), and only the lab's own hosts are
loaded (wrk runs inside the web host). Any socket error or non-2xx answer fails the run.
"""

from __future__ import annotations

from wrkload import Run, exit_on_errors, setup, summarize, wrk

from vpclab.steps import remote


def main() -> None:
    args, ctx = setup(__doc__, "bench_proxy", path="/healthz", seconds=8, rounds=3, connections=16)
    app = remote.where(ctx, "app")
    targets = {
        "through nginx": f"http://127.0.0.1:{ctx.spec.ports.http}{args.path}",
        "straight to app": f"http://{app.private_ip}:{ctx.spec.ports.app}{args.path}",
    }
    web = remote.open_role(ctx, "web")
    runs: dict[str, list[Run]] = {name: [] for name in targets}
    try:
        for _ in range(args.rounds):
            for name, url in targets.items():
                runs[name].append(wrk(web, url, args.seconds, args.connections))
    finally:
        remote.close(web)

    print(f"path {args.path}, {args.connections} connections, {args.rounds} x {args.seconds} s")
    sides = summarize(runs)
    cost = 1 - sides["through nginx"].rps / sides["straight to app"].rps
    print(f"proxy cost: {cost:.1%} of throughput (goal: under 15%)")
    exit_on_errors(sides, "bench_proxy")


if __name__ == "__main__":
    main()

"""Benchmark: one API call straight to a moto server, and through the grader's relay (the same
pass-through that serves each host's door to the control plane).

Every call of a graded kernel goes through the relay, and a graded lab makes hundreds. The
rounds alternate the two sides (benchmarks/steady.py) and report milliseconds per call.
Usage: python benchmarks/bench_relay.py [--rounds N] [--calls N]
"""

from __future__ import annotations

import argparse
import os
import time

import boto3
from steady import MIN_ROUNDS, Figure, alternate, change_line, machine, paired_ratio

from vpclab.course.relay import Relay
from vpclab.localcloud import motoserver
from vpclab.localcloud.sandbox import SEED


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    with motoserver.ephemeral(SEED) as server:
        relay = Relay(server.endpoint).start()
        try:
            clients = {
                "direct": boto3.client("ec2", endpoint_url=server.endpoint),
                "relay": boto3.client("ec2", endpoint_url=relay.endpoint),
            }
            for client in clients.values():
                client.describe_vpcs()  # connections open, moto's code warm

            def one_round(side: str) -> float:
                client = clients[side]
                started = time.perf_counter()
                for _ in range(args.calls):
                    client.describe_vpcs()
                return (time.perf_counter() - started) / args.calls * 1000

            rounds = alternate(list(clients), args.rounds, one_round)
        finally:
            relay.stop()
    figures = {side: Figure(side, tuple(values), "ms/call") for side, values in rounds.items()}
    print(f"describe_vpcs, {args.calls} calls a round; {machine()}")
    for figure in figures.values():
        print(figure.line(width=8, digits=2))
    ratio = paired_ratio("relay/direct", figures["relay"], figures["direct"])
    print(change_line("time a call takes through the relay", ratio))


if __name__ == "__main__":
    main()

"""The aws target end to end, on a real account (opt-in: `make aws-smoke`; never in
`make test`): up -> verify -> down -> nothing tagged left, then what the run cost.

It asks before creating anything (as `vpclab up --target aws` does) unless --yes, and always
tears down, even after a failure, so nothing keeps billing.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from vpclab import report
from vpclab.checklist import Status
from vpclab.cost import estimate
from vpclab.errors import VpclabError
from vpclab.lab import Lab


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", type=Path, default=Path("lab.toml"))
    parser.add_argument("--yes", action="store_true", help="Do not ask before creating.")
    parser.add_argument("--through", default=None, help="Stop after this step.")
    args = parser.parse_args()

    lab = Lab(args.spec, "aws", say=lambda line: print(line, file=sys.stderr))
    cost = estimate(lab.spec, lab.built_steps(args.through))
    started = time.monotonic()
    failures: list[str] = []
    built = False
    try:
        lab.up(args.through, yes=args.yes)
        built = True
        results = lab.verify(through=args.through)
        print(report.to_text(results))
        failures = [r.id for r in results if r.status is Status.FAIL]
    except VpclabError as exc:
        print(f"error: {exc.line()}", file=sys.stderr)
        failures.append("up")
    finally:
        if built or lab.context().state().tagged.leftovers():
            try:
                lab.down()
                print("down: nothing tagged for the lab is left", file=sys.stderr)
            except VpclabError as exc:
                print(f"error: {exc.line()}", file=sys.stderr)
                failures.append("down")
    hours = (time.monotonic() - started) / 3600
    # NAT gateways and public IPv4 addresses bill per started hour: round up.
    print(
        f"ran {hours * 60:.0f} minutes; cost at most about {cost.currency} "
        f"{cost.hourly * max(1, math.ceil(hours)):.2f} (on-demand prices of {cost.as_of})"
    )
    if failures:
        print(f"aws-smoke FAILED: {', '.join(failures)}", file=sys.stderr)
        return 1
    print("aws-smoke passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

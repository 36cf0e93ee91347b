"""What the deployment checks (keys, nginx, scripts) share: they read the hosts over the
same pinned SSH paths the steps use, so they run on both targets."""

from __future__ import annotations

import functools
from collections.abc import Callable

from vpclab import remote
from vpclab.checks import Facts, Outcome, fail, skip
from vpclab.errors import VpclabError

# The check's own hint assumes it could look; when nothing answered, the cause is usually
# upstream (a security group, a route, a service down), and an earlier check names it.
UNANSWERED = (
    "nothing answered, so this check could not look: fix the first FAIL above it (a "
    "security group, a route, or a service that is down), then verify again"
)


def on_hosts(func: Callable[[Facts], Outcome]) -> Callable[[Facts], Outcome]:
    """SKIP with the reason when the hosts cannot be reached from here (never PASS); a host
    that cannot be logged into is a FAIL naming it."""

    @functools.wraps(func)
    def run(facts: Facts) -> Outcome:
        reason = remote.unreachable(facts)
        if reason:
            return skip(reason)
        try:
            return func(facts)
        except VpclabError as exc:
            return fail(exc.problem, exc.fix or None)
        except OSError as exc:  # nothing answered where a host should be
            return fail(f"{type(exc).__name__}: {exc}", UNANSWERED)

    return run


def public_web(facts: Facts, fix: str = "") -> remote.Where:
    """Where the web server answers, which has a public address; without one, a VpclabError
    that `on_hosts` makes a FAIL (with `fix` as its hint, else the check's own)."""
    web = remote.where(facts, "web")
    if not web.public_ip:
        raise VpclabError("the web server has no public address", fix)
    return web

"""A bounded warm-up of real traffic, so a fresh lab's dashboard has data.

A fresh app has exported no request counters yet, and rate() needs two scrapes of a counter
that moved in between: until then the traffic panels are empty. The monitoring step sends a
few small bursts of GETs through the web server, paced across one scrape interval, and polls
every panel's query until each answers with a number. Everything is capped: the number of
requests, the number of bursts and the wall-clock time; the loop stops by itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vpclab.monitoring.panels import Panel
from vpclab.monitoring.promapi import PrometheusAPI

# Pages every visitor can open: a redirect to the login page counts as traffic too.
PATHS = ("/explore", "/auth/login", "/healthz", "/")
BURST = 10
MAX_BURSTS = 5  # at most 50 requests in all
SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(duration: str) -> float:
    """A Prometheus duration of the spec ('15s', '1m', '500ms') in seconds."""
    for unit in ("ms", "s", "m", "h"):
        if duration.endswith(unit) and duration[: -len(unit)].isdigit():
            return int(duration[: -len(unit)]) * SECONDS[unit]
    raise ValueError(f"{duration!r} is not a Prometheus duration")


def missing_data(prom: PrometheusAPI, panels: list[Panel], finite: bool = False) -> list[str]:
    """'Title (legend)' of every panel query with no series; with finite=True, also those
    whose series are all NaN (a latency quantile over a window with no requests)."""
    missing = []
    for panel in panels:
        for query in panel.queries:
            series = prom.query(query.expr)
            values = [v for s in series for v in s.values]
            if not values or (finite and not any(math.isfinite(v) for v in values)):
                missing.append(f"{panel.title} ({query.legend})")
    return missing


@dataclass
class WarmUp:
    sent: int = 0
    failed: int = 0  # requests that got no answer or a 5xx
    seconds: float = 0.0
    missing: list[str] = field(default_factory=list)  # still without data at the end


def pace_for(scrape_interval: str) -> tuple[float, float]:
    """(seconds between bursts, time limit): the bursts span more than one scrape interval,
    so two scrapes see the counters move; the limit leaves room for three scrapes."""
    interval = seconds(scrape_interval)
    pace = min(5.0, max(0.5, interval / 3))
    return pace, min(120.0, 3 * interval + 15.0)


def warm_up(
    send: Callable[[str], int],
    missing: Callable[[], list[str]],
    pace: float,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> WarmUp:
    """Send bursts of GETs (send(path) -> HTTP status; OSError when nothing answers) while
    some panel lacks data, then poll until none does or the time is up."""
    start = clock()
    result = WarmUp(missing=missing())
    while result.missing and clock() - start < timeout:
        if result.sent < BURST * MAX_BURSTS:
            for i in range(BURST):
                try:
                    status = send(PATHS[(result.sent + i) % len(PATHS)])
                except OSError:
                    status = 0
                result.failed += not 0 < status < 500
            result.sent += BURST
        sleep(pace)
        result.missing = missing()
    result.seconds = clock() - start
    return result

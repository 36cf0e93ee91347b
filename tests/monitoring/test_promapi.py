"""Reading Prometheus' targets: a target down at its last scrape is read again until its
next scrape, within a bound (`PrometheusAPI.settled_targets`)."""

from __future__ import annotations

import json

from vpclab.monitoring.promapi import PrometheusAPI


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _prometheus(healths: list[str]) -> tuple[PrometheusAPI, list[str]]:
    """A Prometheus whose app target has health healths[n] at the n-th read (the last one
    after that); the list of paths read."""
    read: list[str] = []

    def get(path: str) -> str:
        read.append(path)
        health = healths[min(len(read), len(healths)) - 1]
        target = {
            "labels": {"job": "microblog", "instance": "10.0.2.4:5000", "role": "app"},
            "health": health,
            "lastError": "" if health == "up" else "connect: connection refused",
        }
        return json.dumps({"status": "success", "data": {"activeTargets": [target]}})

    return PrometheusAPI(get), read


def test_a_target_down_at_its_last_scrape_is_read_again_until_it_is_scraped_up() -> None:
    """Right after a deploy restarted the app, Prometheus' last scrape found it down."""
    prometheus, read = _prometheus(["down", "down", "up"])
    clock = Clock()
    seen = prometheus.settled_targets(20.0, sleep=clock.sleep, clock=lambda: clock.now)
    assert [t.health for t in seen] == ["up"]
    assert len(read) == 3 and clock.now == 2.0


def test_a_target_that_stays_down_is_reported_once_the_bound_is_past() -> None:
    prometheus, read = _prometheus(["down"])
    clock = Clock()
    seen = prometheus.settled_targets(7.0, sleep=clock.sleep, clock=lambda: clock.now)
    assert [(t.health, t.error) for t in seen] == [("down", "connect: connection refused")]
    assert clock.now == 7.0 and len(read) == 8


def test_targets_all_up_are_read_once() -> None:
    prometheus, read = _prometheus(["up"])
    clock = Clock()
    assert [t.health for t in prometheus.settled_targets(20.0, clock.sleep, lambda: clock.now)]
    assert len(read) == 1 and clock.now == 0.0

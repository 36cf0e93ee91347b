"""Reading Prometheus' and Alertmanager's HTTP APIs. The transport is given (a GET of a path
that returns the body), so the same code reads a lab's monitoring server from the lab's
internet locally and on AWS, and a test can hand it any Prometheus."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from vpclab.errors import VpclabError

Get = Callable[[str], str]  # GET path?query -> body text; raises OSError when nothing answers


@dataclass(frozen=True)
class TargetHealth:
    job: str
    instance: str
    role: str
    health: str  # up, down, unknown
    error: str


@dataclass(frozen=True)
class RuleHealth:
    name: str
    kind: str  # alerting, recording
    health: str  # ok, err, unknown
    state: str  # inactive, pending, firing (alerting rules)


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    times: list[float]  # unix seconds
    values: list[float]


@dataclass(frozen=True)
class Alert:
    name: str
    instance: str
    state: str  # active, suppressed, unprocessed


class PrometheusAPI:
    def __init__(self, get: Get) -> None:
        self._get = get

    def _data(self, path: str, **params: str | float) -> object:
        query = f"?{urlencode(params)}" if params else ""
        body = json.loads(self._get(f"/api/v1/{path}{query}"))
        if body.get("status") != "success":
            raise VpclabError(f"Prometheus {path}: {body.get('error', 'no answer')}")
        return body["data"]

    def settled_targets(
        self,
        within: float,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> list[TargetHealth]:
        """The targets; while one is not up, read again each second for at most `within`
        seconds (a scrape interval and a margin). A target's health is its last scrape's,
        which may predate a restart that has ended since (a deploy restarts the app): the
        next scrape tells. A target really down is reported down once the time is up."""
        deadline = clock() + within
        seen = self.targets()
        while any(t.health != "up" for t in seen) and clock() < deadline:
            sleep(1.0)
            seen = self.targets()
        return seen

    def targets(self) -> list[TargetHealth]:
        data = self._data("targets", state="active")
        return [
            TargetHealth(
                t["labels"].get("job", ""),
                t["labels"].get("instance", ""),
                t["labels"].get("role", ""),
                t.get("health", "unknown"),
                t.get("lastError", ""),
            )
            for t in data["activeTargets"]  # type: ignore[index]
        ]

    def rules(self) -> list[RuleHealth]:
        data = self._data("rules")
        return [
            RuleHealth(r["name"], r["type"], r.get("health", "unknown"), r.get("state", ""))
            for group in data["groups"]  # type: ignore[index]
            for r in group["rules"]
        ]

    def query(self, expr: str) -> list[Series]:
        data = self._data("query", query=expr)
        return [
            Series(r["metric"], [float(r["value"][0])], [float(r["value"][1])])
            for r in data["result"]  # type: ignore[index]
        ]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        data = self._data("query_range", query=expr, start=start, end=end, step=step)
        return [
            Series(
                r["metric"],
                [float(t) for t, _v in r["values"]],
                [float(v) for _t, v in r["values"]],
            )
            for r in data["result"]  # type: ignore[index]
        ]


def alertmanager_alerts(get: Get) -> list[Alert]:
    """Alertmanager's current alerts (API v2)."""
    return [
        Alert(
            a["labels"].get("alertname", ""),
            a["labels"].get("instance", ""),
            a.get("status", {}).get("state", ""),
        )
        for a in json.loads(get("/api/v2/alerts"))
    ]

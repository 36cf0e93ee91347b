"""The dashboard's panels: one list that the Grafana file, the live query check and the
matplotlib picture all read, so they can never disagree."""

from __future__ import annotations

from dataclasses import dataclass

from vpclab.monitoring.config import APP_REQUESTS, error_ratio_expr, latency_expr


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str  # Grafana's legendFormat: "{{label}}" picks a label's value


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str  # Grafana's unit id: reqps, percentunit, s, short
    queries: tuple[Query, ...]


APP = "microblog"


def dashboard_title(lab: str) -> str:
    """The app's name, and the lab's when it says something more (the lab in lab.toml is
    itself called microblog, and "microblog: microblog" reads as a mistake)."""
    return APP if lab == APP else f"{APP} (lab {lab})"


def dashboard_panels(window: str) -> list[Panel]:
    """Request rate, error ratio, latency, CPU, memory, disk, Nginx connections."""
    idle = f'rate(node_cpu_seconds_total{{mode="idle"}}[{window}])'
    root = 'mountpoint="/"'
    return [
        Panel("Request rate", "reqps", (Query(f"sum(rate({APP_REQUESTS}[{window}]))", "app"),)),
        Panel("Error ratio (5xx)", "percentunit", (Query(error_ratio_expr(window), "5xx"),)),
        Panel(
            "Latency p50 / p95",
            "s",
            (
                Query(latency_expr(0.5, window), "p50"),
                Query(latency_expr(0.95, window), "p95"),
            ),
        ),
        Panel(
            "CPU busy",
            "percentunit",
            (Query(f"1 - avg by (role) ({idle})", "{{role}}"),),
        ),
        Panel(
            "Memory used",
            "percentunit",
            (
                Query(
                    "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
                    "{{role}}",
                ),
            ),
        ),
        Panel(
            "Disk used (/)",
            "percentunit",
            (
                Query(
                    f"1 - node_filesystem_avail_bytes{{{root}}}"
                    f" / node_filesystem_size_bytes{{{root}}}",
                    "{{role}}",
                ),
            ),
        ),
        Panel(
            "Nginx connections",
            "short",
            (
                Query("nginx_connections_active", "active"),
                Query("nginx_connections_waiting", "waiting"),
            ),
        ),
    ]

"""Grafana's HTTP API as the `monitoring.grafana` check reads it: health, the provisioned
datasource (and whether it reaches Prometheus) and the dashboard. The transport is a `get`
function: on the monitoring host over SSH (curl, the password on stdin), or plain HTTP in tests."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from vpclab.hosts.ssh import Host

Get = Callable[[str], tuple[int, str]]  # path -> (HTTP status, body)
ADMIN_USER = "admin"


@dataclass(frozen=True)
class GrafanaState:
    ok: bool
    detail: str


def curl_on_host(host: Host, port: int, password: str) -> Get:
    """GET http://127.0.0.1:PORT/path on the host, as admin; the password goes on stdin
    (curl -K -), never on a command line."""

    def get(path: str) -> tuple[int, str]:
        url = shlex.quote(f"http://127.0.0.1:{port}{path}")
        config = f'user = "{ADMIN_USER}:{password}"\n'
        done = host.run(
            f"curl -sS --max-time 5 -K - -w '\\n%{{http_code}}' {url}", input=config, check=False
        )
        if not done.ok:
            raise OSError(f"curl could not reach Grafana on port {port}: {done.stderr.strip()}")
        body, _, code = done.stdout.rpartition("\n")
        return int(code or 0), body

    return get


def _json(body: str) -> dict:
    try:
        found = json.loads(body)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def inspect(get: Get, datasource_uid: str, dashboard_uid: str) -> GrafanaState:
    """Health, the datasource and its reach to Prometheus, the dashboard: the first problem,
    or what was seen."""
    status, body = get("/api/health")
    if status != 200 or _json(body).get("database") != "ok":
        return GrafanaState(False, f"/api/health: HTTP {status} {body.strip()[:120]}")
    status, body = get(f"/api/datasources/uid/{datasource_uid}")
    if status == 401:
        return GrafanaState(False, "the admin password in SSM is refused (HTTP 401)")
    if status != 200:
        return GrafanaState(False, f"no datasource {datasource_uid!r} (HTTP {status})")
    source = _json(body)
    status, body = get(f"/api/datasources/uid/{datasource_uid}/health")
    if status != 200 or _json(body).get("status") != "OK":
        message = _json(body).get("message") or body.strip()[:120]
        return GrafanaState(False, f"datasource {datasource_uid!r} cannot query: {message}")
    status, body = get(f"/api/dashboards/uid/{dashboard_uid}")
    if status != 200:
        return GrafanaState(False, f"no dashboard {dashboard_uid!r} (HTTP {status})")
    board = _json(body).get("dashboard", {})
    panels = len(board.get("panels", []))
    return GrafanaState(
        True,
        f"healthy; datasource {source.get('name', datasource_uid)} -> {source.get('url', '?')} "
        f"OK; dashboard {board.get('title', dashboard_uid)!r} with {panels} panels",
    )

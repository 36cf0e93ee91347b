"""The Grafana side, as code: a datasource provisioning file, a dashboard provider, and the
dashboard itself built with grafanalib from the shared panel list. `vpclab dashboard
--files DIR` writes them; the copies committed under monitoring/grafana are checked to be
current by a test. On AWS the monitoring host's Grafana reads them from its provisioning
folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from vpclab.monitoring.panels import Panel, dashboard_panels, dashboard_title
from vpclab.spec import LabSpec

# grafanalib is imported where a dashboard is built: it takes about 0.1 s, which every process
# that imports the steps (each kernel, each CLI call) would pay (tests/test_startup.py).
if TYPE_CHECKING:
    from grafanalib import core as g

DATASOURCE_UID = "prometheus"
DASHBOARD_UID = "vpclab-microblog"
# Where Grafana looks on the monitoring host (relative paths below mirror these).
PROVISIONING_DIR = "/etc/grafana/provisioning"
DASHBOARDS_DIR = "/var/lib/grafana/dashboards"
# Grafana's own apt repository (the aws target's user data installs it from there).
APT_REPO = "https://apt.grafana.com"
APT_KEY_URL = "https://apt.grafana.com/gpg.key"
# Why the local target's monitoring server has no Grafana (`Site.why_no_grafana`).
NOT_ON_LOCAL = (
    "Grafana is not installed on the local target: no package registry reachable from the "
    "local cloud serves it (every panel's query is checked against Prometheus instead)"
)
LOCAL_SKIPS = ("monitoring.grafana",)  # so the local lab's checklist SKIPs only these
PASSWORD_FILE = "/etc/grafana/vpclab-admin-password"  # root:grafana 0640, read at first start
UNIT_DROPIN = "/etc/systemd/system/grafana-server.service.d/vpclab.conf"
FILES = (
    "provisioning/datasources/prometheus.yml",
    "provisioning/dashboards/vpclab.yml",
    "dashboards/microblog.json",
)
COLUMNS = 2
WIDTH, HEIGHT = 12, 8  # Grafana's grid is 24 wide


def _panel(panel: Panel, index: int) -> g.TimeSeries:
    from grafanalib import core as g

    return g.TimeSeries(
        title=panel.title,
        dataSource={"type": "prometheus", "uid": DATASOURCE_UID},
        targets=[
            g.Target(expr=q.expr, legendFormat=q.legend, refId=chr(ord("A") + i))
            for i, q in enumerate(panel.queries)
        ],
        unit=panel.unit,
        gridPos=g.GridPos(
            h=HEIGHT, w=WIDTH, x=(index % COLUMNS) * WIDTH, y=(index // COLUMNS) * HEIGHT
        ),
    )


def dashboard(spec: LabSpec) -> g.Dashboard:
    from grafanalib import core as g

    panels = dashboard_panels(spec.monitoring.rate_window)
    return g.Dashboard(
        title=dashboard_title(spec.name),
        uid=DASHBOARD_UID,
        tags=["vpclab", spec.name],
        timezone="utc",
        refresh="10s",
        time=g.Time("now-30m", "now"),
        panels=[_panel(p, i) for i, p in enumerate(panels)],
    ).auto_panel_ids()


def files(spec: LabSpec) -> dict[str, str]:
    """Every generated file, by its path relative to the output folder."""
    datasource = {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "uid": DATASOURCE_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": f"http://127.0.0.1:{spec.ports.prometheus}",
                "isDefault": True,
            }
        ],
    }
    provider = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "vpclab",
                "type": "file",
                "disableDeletion": True,
                "options": {"path": DASHBOARDS_DIR},
            }
        ],
    }
    from grafanalib._gen import DashboardEncoder

    text = json.dumps(dashboard(spec).to_json_data(), cls=DashboardEncoder, indent=2)
    return dict(
        zip(
            FILES,
            (
                yaml.safe_dump(datasource, sort_keys=False),
                yaml.safe_dump(provider, sort_keys=False),
                text + "\n",
            ),
            strict=True,
        )
    )


def write(spec: LabSpec, folder: Path) -> list[Path]:
    written = []
    for relative, text in files(spec).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


def unit_dropin(spec: LabSpec) -> str:
    """The spec's port and the admin password's file, as Grafana's environment overrides
    (grafana.ini stays the package's); $__file{} keeps the password out of the environment."""
    return (
        "[Service]\n"
        f"Environment=GF_SERVER_HTTP_PORT={spec.ports.grafana}\n"
        f"Environment=GF_SECURITY_ADMIN_PASSWORD=$__file{{{PASSWORD_FILE}}}\n"
    )


def host_files(spec: LabSpec) -> dict[str, str]:
    """The same files by their absolute path on the monitoring host."""
    where = {"provisioning": PROVISIONING_DIR, "dashboards": DASHBOARDS_DIR}
    placed = {}
    for relative, text in files(spec).items():
        top, rest = relative.split("/", 1)
        placed[f"{where[top]}/{rest}"] = text
    return placed

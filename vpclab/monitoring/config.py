"""prometheus.yml, its alert rules and alertmanager.yml, rendered whole from the lab's state.

Targets are the servers' private IPs as the control plane reports them. Every render is the
complete file, so running the step again can never add a job twice (the classic `tee -a`
mistake appends one on every run).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from vpclab import blanks
from vpclab.errors import VpclabError
from vpclab.render import render_text
from vpclab.spec import LabSpec

# Where the files live on the monitoring host (Debian's paths).
PROMETHEUS_YML = "/etc/prometheus/prometheus.yml"
RULES_YML = "/etc/prometheus/rules/vpclab.rules.yml"
ALERTMANAGER_YML = "/etc/prometheus/alertmanager.yml"

# The parts a student writes, read from the project the lab deploys (see vpclab.blanks).
SCRAPE_TEMPLATE = "vpclab/render/templates/prometheus-scrape-configs.yml.j2"
ALERT_TEMPLATE = "vpclab/render/templates/alert-instance-down.yml.j2"

APP_REQUESTS = "flask_http_request_total"
APP_DURATION = "flask_http_request_duration_seconds_bucket"


@dataclass(frozen=True)
class ScrapeTarget:
    job: str
    address: str  # host:port, a private IP
    role: str
    metrics_path: str = "/metrics"


@dataclass(frozen=True)
class Servers:
    """The private IPs Prometheus scrapes (from the control plane)."""

    app: str
    web: str


def scrape_targets(spec: LabSpec, servers: Servers) -> list[ScrapeTarget]:
    ports = spec.ports
    return [
        ScrapeTarget("prometheus", f"127.0.0.1:{ports.prometheus}", "monitoring"),
        ScrapeTarget("microblog", f"{servers.app}:{ports.app}", "app"),
        ScrapeTarget("node", f"{servers.app}:{ports.node_exporter}", "app"),
        ScrapeTarget("node", f"{servers.web}:{ports.node_exporter}", "web"),
        ScrapeTarget("nginx", f"{servers.web}:{ports.nginx_exporter}", "web"),
    ]


def _dump(data: object, header: str) -> str:
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


HEADER = "# Rendered by vpclab from lab {lab}'s state: do not edit, 'vpclab up' renders it again.\n"


def _yaml_list(project: Path | None, path: str, what: str, **values: object) -> list[dict]:
    """A project file rendered and read as a YAML list of mappings, or a one-line error."""
    text = render_text(blanks.read(project, path), path, **values)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise VpclabError(
            f"{path} is not valid YAML: {' '.join(str(exc).split())}",
            "fix the line it names (indentation: spaces only, '- ' before each item)",
        ) from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise VpclabError(f"{path} is not a YAML list of {what}", f"write one '- ' item per {what}")
    return data


def scrape_configs(spec: LabSpec, servers: Servers, project: Path | None = None) -> list[dict]:
    """prometheus.yml's scrape_configs, as the project's template writes them."""
    return _yaml_list(
        project,
        SCRAPE_TEMPLATE,
        "scrape jobs",
        app_ip=servers.app,
        web_ip=servers.web,
        ports=spec.ports,
    )


def prometheus_yml(spec: LabSpec, servers: Servers, project: Path | None = None) -> str:
    """The whole prometheus.yml: the project's scrape_configs (a student's, in a handout)
    in the kit's frame."""
    m = spec.monitoring
    data = {
        "global": {
            "scrape_interval": m.scrape_interval,
            "evaluation_interval": m.evaluation_interval,
            "external_labels": {"lab": spec.name},
        },
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [f"127.0.0.1:{spec.ports.alertmanager}"]}]}
            ]
        },
        "rule_files": [RULES_YML],
        "scrape_configs": scrape_configs(spec, servers, project),
    }
    return _dump(data, HEADER.format(lab=spec.name))


def error_ratio_expr(window: str) -> str:
    """5xx answers over all answers. No 5xx at all is a ratio of 0, and so is a window with
    no requests (`> 0` drops the 0/0, `or vector(0)` fills it): both are "nothing wrong",
    not "no data". The request-rate panel is the one that shows whether requests come."""
    return (
        f'((sum(rate({APP_REQUESTS}{{status=~"5.."}}[{window}])) or vector(0))'
        f" / (sum(rate({APP_REQUESTS}[{window}])) > 0)) or vector(0)"
    )


def latency_expr(quantile: float, window: str) -> str:
    return f"histogram_quantile({quantile}, sum by (le) (rate({APP_DURATION}[{window}])))"


def rules_yml(spec: LabSpec, project: Path | None = None) -> str:
    """The alert rules: the project's InstanceDown (a student's, in a handout), then the
    kit's error-ratio and latency rules."""
    m = spec.monitoring
    rules = [
        *_yaml_list(project, ALERT_TEMPLATE, "alert rules", instance_down_for=m.instance_down_for),
        {
            "alert": "HighErrorRatio",
            "expr": f"({error_ratio_expr(m.rate_window)}) > {m.error_ratio_threshold}",
            "for": m.error_ratio_for,
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": f"more than {m.error_ratio_threshold:.0%} of requests answer 5xx"
            },
        },
        {
            "alert": "HighLatencyP95",
            "expr": f"{latency_expr(0.95, m.rate_window)} > {m.latency_p95_seconds}",
            "for": m.latency_for,
            "labels": {"severity": "warning"},
            "annotations": {"summary": f"p95 latency is above {m.latency_p95_seconds} s"},
        },
    ]
    return _dump({"groups": [{"name": "microblog", "rules": rules}]}, HEADER.format(lab=spec.name))


def alertmanager_yml(spec: LabSpec) -> str:
    """One route to a receiver with no integrations: alerts show in Alertmanager's API and
    UI (a course lab has no pager); add email or Slack settings to the receiver on AWS."""
    data = {
        "route": {
            "receiver": "lab",
            "group_by": ["alertname", "instance"],
            "group_wait": "5s",
            "group_interval": "30s",
            "repeat_interval": "4h",
        },
        "receivers": [{"name": "lab"}],
    }
    return _dump(data, HEADER.format(lab=spec.name))

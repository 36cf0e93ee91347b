"""prometheus.yml, the rules and alertmanager.yml rendered from state, and the Grafana files
generated from the panel list: whole, valid (promtool, amtool) and current."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from vpclab.errors import SpecError
from vpclab.monitoring import config, grafana
from vpclab.monitoring.panels import dashboard_panels
from vpclab.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]
SERVERS = config.Servers(app="10.0.2.9", web="10.0.1.9")


@pytest.fixture
def spec():
    return load_spec(ROOT / "lab.toml")


def test_prometheus_yml_is_whole_one_job_each(spec) -> None:
    first = config.prometheus_yml(spec, SERVERS)
    assert config.prometheus_yml(spec, SERVERS) == first  # a re-render is the same file
    data = yaml.safe_load(first)
    jobs = [j["job_name"] for j in data["scrape_configs"]]
    assert sorted(jobs) == ["microblog", "nginx", "node", "prometheus"]
    targets = [
        t for j in data["scrape_configs"] for sc in j["static_configs"] for t in sc["targets"]
    ]
    assert len(targets) == len(set(targets)) == 5
    assert {"10.0.2.9:5000", "10.0.2.9:9100", "10.0.1.9:9100", "10.0.1.9:9113"} < set(targets)


def test_alert_for_comes_from_the_spec() -> None:
    data = tomllib.loads((ROOT / "lab.toml").read_text())
    data["monitoring"] = {**data["monitoring"], "instance_down_for": "7s", "latency_for": "3m"}
    rules = yaml.safe_load(config.rules_yml(parse_spec(data)))["groups"][0]["rules"]
    fors = {r["alert"]: r["for"] for r in rules}
    assert fors == {"InstanceDown": "7s", "HighErrorRatio": "5m", "HighLatencyP95": "3m"}


def test_bad_duration_is_one_line_naming_the_field() -> None:
    data = tomllib.loads((ROOT / "lab.toml").read_text())
    data["monitoring"] = {**data["monitoring"], "instance_down_for": "soon"}
    with pytest.raises(SpecError, match="monitoring.instance_down_for"):
        parse_spec(data)


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool is not installed")
def test_promtool_and_amtool_accept_the_rendered_files(spec, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(config.rules_yml(spec))
    prom = tmp_path / "prometheus.yml"
    prom.write_text(config.prometheus_yml(spec, SERVERS).replace(config.RULES_YML, str(rules)))
    am = tmp_path / "alertmanager.yml"
    am.write_text(config.alertmanager_yml(spec))
    for command in (
        ["promtool", "check", "config", str(prom)],
        ["promtool", "check", "rules", str(rules)],
        ["amtool", "check-config", str(am)],
    ):
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_committed_grafana_files_are_current(spec) -> None:
    for relative, text in grafana.files(spec).items():
        committed = ROOT / "monitoring" / "grafana" / relative
        assert committed.read_text() == text, (
            f"{relative} is stale: run 'vpclab dashboard --files monitoring/grafana'"
        )


def test_dashboard_json_has_every_panel_query(spec) -> None:
    board = json.loads(grafana.files(spec)["dashboards/microblog.json"])
    exprs = {t["expr"] for p in board["panels"] for t in p["targets"]}
    panels = dashboard_panels(spec.monitoring.rate_window)
    assert [p["title"] for p in board["panels"]] == [p.title for p in panels]
    assert exprs == {q.expr for p in panels for q in p.queries}
    assert all(p["datasource"]["uid"] == grafana.DATASOURCE_UID for p in board["panels"])
    titles = " ".join(p.title for p in panels)
    for wanted in ("Request rate", "Error", "p95", "CPU", "Memory", "Disk", "Nginx"):
        assert wanted in titles

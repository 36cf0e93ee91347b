"""The monitoring step on real local hosts (root): every target up after `vpclab up`, a
re-run keeps one job per target, a revoked 9100 rule is caught with a hint naming it, and
a stopped app fires InstanceDown in Alertmanager within the shortened window."""

from __future__ import annotations

import json
import re
import struct
import time
import urllib.request
from collections import Counter

import pytest
import yaml

from tests.monitoring.conftest import MonitoredLab
from tests.reallab import eventually
from vpclab import remote
from vpclab.checklist import Status
from vpclab.facts.server_apis import prometheus_of
from vpclab.monitoring import config
from vpclab.monitoring.grafana import LOCAL_SKIPS
from vpclab.monitoring.promapi import alertmanager_alerts
from vpclab.steps import BUILT


@pytest.fixture(scope="module")
def up(monitored: MonitoredLab) -> MonitoredLab:
    """The shared lab, once `vpclab up` passed (tests/reallab.py keeps what it printed)."""
    return monitored


def _results(lab: MonitoredLab) -> dict:
    return {r.id: r for r in lab.lab().verify(step="monitoring")}


def test_every_target_up_and_no_fail(up: MonitoredLab) -> None:
    results = _results(up)
    bad = {i: (r.detail, r.hint) for i, r in results.items() if r.status is not Status.PASS}
    assert bad.keys() == set(LOCAL_SKIPS), bad  # SKIPs by design on the local target only
    assert all(results[i].status is Status.SKIP for i in LOCAL_SKIPS)
    targets = prometheus_of(up.lab().context()).targets()
    assert len(targets) == 5 and {t.health for t in targets} == {"up"}


def test_rerun_keeps_one_job_per_target(up: MonitoredLab) -> None:
    ctx = up.lab().context()
    BUILT["monitoring"].apply(ctx)
    BUILT["monitoring"].apply(ctx)
    host = remote.open_role(ctx, "monitoring")
    try:
        text = remote.read_file(host, config.PROMETHEUS_YML)
    finally:
        remote.close(host)
    data = yaml.safe_load(text)
    jobs = Counter(j["job_name"] for j in data["scrape_configs"])
    assert set(jobs.values()) == {1}
    targets = Counter(
        (j["job_name"], t)
        for j in data["scrape_configs"]
        for s in j["static_configs"]
        for t in s["targets"]
    )
    assert len(targets) == 5 and set(targets.values()) == {1}
    live = Counter((t.job, t.instance) for t in prometheus_of(ctx).targets())
    assert len(live) == 5 and set(live.values()) == {1}


def test_revoked_9100_rule_fails_with_a_hint_naming_it(up: MonitoredLab) -> None:
    lab = up.lab()
    ctx = lab.context()
    state = ctx.state()
    app_sg = state.security_groups["app"]["GroupId"]
    mon_sg = state.security_groups["monitoring"]["GroupId"]
    app_ip = state.instances["app"]["PrivateIpAddress"]
    rules = ctx.ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [app_sg]}]
    )["SecurityGroupRules"]
    rule = next(
        r
        for r in rules
        if not r["IsEgress"]
        and r["FromPort"] == 9100
        and r.get("ReferencedGroupInfo", {}).get("GroupId") == mon_sg
    )
    ctx.ec2.revoke_security_group_ingress(
        GroupId=app_sg, SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]]
    )
    try:
        node = f"{app_ip}:9100"
        # Security groups are stateful: the scrape's open keep-alive connection outlives the
        # revoke (on AWS too). The exporter's restart ends it; the new connect is dropped,
        # once the revoke is in force: a restart before that let Prometheus open a new
        # connection, which then outlived the revoke in turn.
        lab.site.wait_applied(lab)
        app = remote.open_role(ctx, "app")
        try:
            app.run("supervisorctl restart node_exporter", sudo=True)
        finally:
            remote.close(app)

        def node_down() -> bool:
            """Prometheus sees the app's node_exporter down"""
            return any(
                t.instance == node and t.health == "down" for t in prometheus_of(ctx).targets()
            )

        eventually(node_down, 60, 0.5)
        results = _results(up)
        for check_id in ("monitoring.security_groups", "monitoring.targets_up"):
            result = results[check_id]
            assert result.status is Status.FAIL, (check_id, result.detail)
            assert "9100" in result.hint and app_sg in result.hint and mon_sg in result.hint
        assert node in results["monitoring.targets_up"].detail
    finally:
        BUILT["monitoring"].apply(ctx)

    def node_up() -> bool:
        """the app's node_exporter is scraped again"""
        return any(t.instance == node and t.health == "up" for t in prometheus_of(ctx).targets())

    eventually(node_up, 60, 0.5)


def test_stopped_app_fires_instance_down_in_alertmanager(up: MonitoredLab) -> None:
    ctx = up.lab().context()
    spec = ctx.spec
    app_ip = ctx.state().instances["app"]["PrivateIpAddress"]
    instance = f"{app_ip}:{spec.ports.app}"
    at = remote.where(ctx, "monitoring")

    def get(path: str) -> str:
        return remote.http_get(ctx, at.public_ip, spec.ports.alertmanager, path).body

    def firing() -> bool:
        """Alertmanager holds InstanceDown for the app"""
        return any(
            a.name == "InstanceDown" and a.instance == instance and a.state == "active"
            for a in alertmanager_alerts(get)
        )

    app = remote.open_role(ctx, "app")
    try:
        stopped = time.monotonic()
        app.run("supervisorctl stop microblog", sudo=True)
        # for: 5 s, plus a scrape, an evaluation and the send: well inside 30 s.
        eventually(firing, 30, 0.5)
        assert time.monotonic() - stopped >= 5  # never before the rule's `for:` has passed
    finally:
        app.run("supervisorctl start microblog", sudo=True, check=False)
        remote.close(app)
    eventually(lambda: not firing(), 60, 0.5)


def test_dashboard_png_after_traffic(up: MonitoredLab, tmp_path) -> None:
    lab = up.lab()
    ctx = lab.context()
    for _ in range(50):
        remote.site_get(ctx, "/explore")  # HTTPS, trusting the lab CA
    eventually(lambda: _results(up)["monitoring.dashboard_queries"].status is Status.PASS, 30, 2)
    path = lab.dashboard_png(tmp_path / "dashboard.png", minutes=5)
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    assert width >= 1000 and height >= 1000


def test_prometheus_and_alertmanager_published_on_loopback(up: MonitoredLab) -> None:
    status = json.loads(up.cli("status", "--json").stdout)
    text = up.cli("status").stdout
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    for name, probe in (("prometheus", "-/ready"), ("alertmanager", "-/healthy")):
        shown = re.search(rf"^{name}: (http://127\.0\.0\.1:\d+/)$", up.up_output, re.M)
        assert shown, f"'vpclab up' printed no {name} URL"
        assert status[f"{name}_url"] == shown[1]
        assert f"{name}: {shown[1]}" in text
        with direct.open(shown[1] + probe, timeout=10) as reply:
            assert reply.status == 200

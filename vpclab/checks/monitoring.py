"""Checks of step `monitoring`: the scrape rules in the security groups, every target up,
the alert rules loaded, Alertmanager wired, every dashboard query answered, 9100 closed
to everyone but the monitoring server (a live probe from the web server), and Grafana (aws
target: healthy, datasource answering, dashboard provisioned; SKIP on the local target)."""

from __future__ import annotations

from collections import Counter

from botocore.exceptions import ClientError

from vpclab import remote
from vpclab.aws import secrets
from vpclab.aws.inventory import allows, ingress_rules
from vpclab.checks import Facts, Outcome, check, fail, ok, skip
from vpclab.checks.hosts import on_hosts
from vpclab.facts.pipeline_build import inside_build
from vpclab.facts.server_apis import prometheus_of
from vpclab.monitoring import config, grafana
from vpclab.monitoring.panels import dashboard_panels
from vpclab.monitoring.warmup import missing_data, seconds

UP = "run 'vpclab up --through monitoring'"
SCRAPE_MARGIN = 5.0  # seconds past a scrape interval for a down target's next scrape
RULES = ("InstanceDown", "HighErrorRatio", "HighLatencyP95")


def _scrape_rules(facts: Facts) -> list[tuple[str, int, str]]:
    """(role, port, what) of every rule the step adds, from the monitoring SG."""
    p = facts.spec.ports
    return [
        ("app", p.app, "app metrics"),
        ("app", p.node_exporter, "node_exporter"),
        ("web", p.node_exporter, "node_exporter"),
        ("web", p.nginx_exporter, "Nginx status"),
    ]


def rule_hint(facts: Facts, role: str, port: int) -> str:
    groups = facts.state.security_groups
    sg = groups.get(role, {}).get("GroupId", "?")
    mon = groups.get("monitoring", {}).get("GroupId", "?")
    return (
        f"the {role} SG ({sg}) must allow TCP {port} from the monitoring SG ({mon}): "
        f"add that rule, or {UP}"
    )


@check(
    "monitoring.security_groups",
    "App 5000/9100 and web 9100/Nginx status open to the monitoring SG only",
    UP,
)
def _security_groups(facts: Facts) -> Outcome:
    groups = facts.state.security_groups
    if any(role not in groups for role in ("app", "web", "monitoring")):
        return fail("the app, web or monitoring security group is missing")
    mon = groups["monitoring"]["GroupId"]
    for role, port, what in _scrape_rules(facts):
        have = ingress_rules(groups[role])
        if not allows(have, port, mon):
            return fail(
                f"{groups[role]['GroupId']} lacks TCP {port} ({what}) from the monitoring SG",
                rule_hint(facts, role, port),
            )
        # The app port also serves the web server (the proxy); everything else is the
        # monitoring server's alone.
        allowed = {mon} | (
            {groups["web"]["GroupId"]} if role == "app" and port == facts.spec.ports.app else set()
        )
        strangers = sorted({r.source for r in have if r.first <= port <= r.last} - allowed)
        if strangers:
            return fail(
                f"{groups[role]['GroupId']} also opens {port} ({what}) to {', '.join(strangers)}",
                f"revoke those rules: only the monitoring SG ({mon}) may reach {port}",
            )
    return ok(
        f"app {facts.spec.ports.app}+{facts.spec.ports.node_exporter}, web "
        f"{facts.spec.ports.node_exporter}+{facts.spec.ports.nginx_exporter} from {mon}"
    )


def _servers(facts: Facts) -> config.Servers | None:
    app, web = facts.state.instances.get("app"), facts.state.instances.get("web")
    if app is None or web is None:
        return None
    return config.Servers(app=app["PrivateIpAddress"], web=web["PrivateIpAddress"])


@check(
    "monitoring.targets_up",
    "Prometheus scrapes every target once (app, node x2, Nginx, itself), all up",
    UP,
)
@on_hosts
def _targets_up(facts: Facts) -> Outcome:
    servers = _servers(facts)
    if servers is None:
        return fail("the app or web server is missing")
    want = {(t.job, t.address): t for t in config.scrape_targets(facts.spec, servers)}
    seen = prometheus_of(facts).settled_targets(
        seconds(facts.spec.monitoring.scrape_interval) + SCRAPE_MARGIN
    )
    counts = Counter((t.job, t.instance) for t in seen)
    doubled = sorted(f"{job} {inst} x{n}" for (job, inst), n in counts.items() if n > 1)
    if doubled:
        return fail(
            f"scraped more than once: {', '.join(doubled)}", "render prometheus.yml whole: " + UP
        )
    missing = sorted(f"{job} {addr}" for job, addr in set(want) - set(counts))
    extra = sorted(f"{job} {inst}" for job, inst in set(counts) - set(want))
    if missing or extra:
        return fail(
            "targets differ from the lab's state: "
            + "; ".join(
                filter(
                    None,
                    [
                        missing and f"missing {', '.join(missing)}",
                        extra and f"unexpected {', '.join(extra)}",
                    ],
                )
            )
        )
    down = [t for t in seen if t.health != "up"]
    if down:
        first = down[0]
        target = want[(first.job, first.instance)]
        port = int(first.instance.rsplit(":", 1)[1])
        hint = (
            rule_hint(facts, target.role, port)
            + f"; and the {first.job} process must run on the {target.role} server"
            if target.role in ("app", "web")
            else UP
        )
        shown = ", ".join(
            f"{t.job} {t.instance} {t.health} ({t.error or 'not scraped yet'})" for t in down
        )
        return fail(shown, hint)
    return ok(f"{len(seen)} targets up: " + ", ".join(sorted({t.job for t in seen})))


@check("monitoring.rules_loaded", "Prometheus loaded the alert rules, all healthy", UP)
@on_hosts
def _rules_loaded(facts: Facts) -> Outcome:
    rules = {r.name: r for r in prometheus_of(facts).rules()}
    missing = [name for name in RULES if name not in rules]
    if missing:
        return fail(f"not loaded: {', '.join(missing)}")
    bad = [f"{r.name} {r.health}" for r in rules.values() if r.health not in ("ok", "unknown")]
    if bad:
        return fail(f"unhealthy: {', '.join(bad)}")
    firing = sorted(r.name for r in rules.values() if r.state == "firing")
    return ok(f"{len(rules)} rules" + (f"; firing: {', '.join(firing)}" if firing else ""))


@check(
    "monitoring.alertmanager",
    "Prometheus sends its alerts to Alertmanager on the monitoring server",
    "Alertmanager must run on the monitoring server: " + UP,
)
@on_hosts
def _alertmanager(facts: Facts) -> Outcome:
    import json

    at = remote.where(facts, "monitoring")
    reply = remote.http_get(
        facts, at.public_ip or at.private_ip, facts.spec.ports.prometheus, "/api/v1/alertmanagers"
    )
    active = json.loads(reply.body).get("data", {}).get("activeAlertmanagers", [])
    if not active:
        return fail("no active Alertmanager")
    health = remote.http_get(
        facts, at.public_ip or at.private_ip, facts.spec.ports.alertmanager, "/-/healthy"
    )
    if health.status != 200:
        return fail(f"Alertmanager answers HTTP {health.status} on /-/healthy")
    return ok(", ".join(a["url"] for a in active))


@check(
    "monitoring.dashboard_queries",
    "Every dashboard panel's query returns data from Prometheus",
    "fix any FAIL above it first (a stopped Nginx or app exports nothing), then send some "
    "traffic through the web server, wait one scrape and verify again; a panel with no "
    "data names a metric nothing exports",
)
@on_hosts
def _dashboard_queries(facts: Facts) -> Outcome:
    panels = dashboard_panels(facts.spec.monitoring.rate_window)
    empty = missing_data(prometheus_of(facts), panels)
    if empty:
        return fail(f"no data: {', '.join(empty)}")
    return ok(f"{sum(len(p.queries) for p in panels)} queries of {len(panels)} panels answer")


@check(
    "monitoring.node_exporter_closed_to_web",
    "Only the monitoring SG reaches 9100: web -> app:9100 is refused",
    "revoke any rule that opens 9100 on the app SG to a source other than the monitoring SG",
)
@on_hosts
def _closed_to_web(facts: Facts) -> Outcome:
    app = remote.where(facts, "app")
    port = facts.spec.ports.node_exporter
    probe = f"timeout 3 bash -c 'exec 3<>/dev/tcp/{app.private_ip}/{port}' 2>/dev/null"
    result = remote.shared(facts, "web").run(probe, check=False)
    if result.ok:
        return fail(f"the web server connects to {app.private_ip}:{port}")
    how = "timed out" if result.rc == 124 else "refused"
    return ok(f"web -> {app.private_ip}:{port} {how}")


@check(
    "monitoring.grafana",
    "Grafana is healthy, its Prometheus datasource answers and the dashboard is provisioned",
    "run 'vpclab up --through monitoring'; on the monitoring server see "
    "'journalctl -u grafana-server'",
)
def _grafana(facts: Facts) -> Outcome:
    reason = facts.site.why_no_grafana()
    if reason:
        return skip(reason)
    build = inside_build()
    if build:  # Jenkins' role may not read Grafana's password, by design
        return skip(f"inside {build}: Grafana's admin password is the operator's, not Jenkins'")
    return _grafana_live(facts)


@on_hosts
def _grafana_live(facts: Facts) -> Outcome:
    from vpclab.monitoring.grafana_api import curl_on_host, inspect

    parameter = secrets.name(facts.spec.name, "grafana", "admin-password")
    try:
        ssm = facts.cloud.client("ssm")
        password = ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
    except ClientError as exc:
        return fail(f"cannot read {parameter} ({exc.response['Error']['Code']})", UP)
    host = remote.shared(facts, "monitoring")
    state = inspect(
        curl_on_host(host, facts.spec.ports.grafana, password),
        grafana.DATASOURCE_UID,
        grafana.DASHBOARD_UID,
    )
    return ok(state.detail) if state.ok else fail(state.detail)

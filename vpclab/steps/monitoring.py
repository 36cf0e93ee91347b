"""Step `monitoring`: security-group rules for the scrapes, exporters on the app and web
servers, Prometheus and Alertmanager on the monitoring server.

Every file is rendered whole from the lab's state (never appended), checked with promtool
before Prometheus is told to reload (SIGHUP: no restart, no lost samples), and every
process runs under supervisor, the same process manager as the app.
"""

from __future__ import annotations

import shlex
import time

from vpclab import remote
from vpclab.errors import VpclabError
from vpclab.facts.security_groups import alertmanager_admin, monitoring_scrapes
from vpclab.facts.server_apis import prometheus_of
from vpclab.hosts.ssh import Host
from vpclab.monitoring import config, warmup
from vpclab.monitoring import grafana as grafana_files
from vpclab.monitoring.panels import dashboard_panels
from vpclab.render import render
from vpclab.steps.compute import ensure_security_group
from vpclab.steps.context import Context

CONF_D = "/etc/supervisor/conf.d"
PROMETHEUS_DATA = "/var/lib/prometheus/metrics2"
ALERTMANAGER_DATA = "/var/lib/prometheus/alertmanager"
STATUS_URI = "http://127.0.0.1/nginx_status"  # the web server's stub_status, read locally
# supervisord runs under systemd where there is one; otherwise it is started here, detached
# (every stream closed) so the SSH channel can end. Debian's own units of the exporters are
# stopped: supervisor owns these ports.
SUPERVISOR_UP = (
    "supervisorctl pid 2>/dev/null | grep -qE '^[0-9]+$' || { "
    "if [ -d /run/systemd/system ]; then systemctl enable --now supervisor; "
    "else supervisord -c /etc/supervisor/supervisord.conf </dev/null >/dev/null 2>&1; fi; "
    "for _ in $(seq 50); do supervisorctl pid 2>/dev/null | grep -qE '^[0-9]+$' && break; "
    "sleep 0.1; done; }"
)
PACKAGED_UNITS = (
    "prometheus",
    "prometheus-node-exporter",
    "prometheus-nginx-exporter",
    "prometheus-alertmanager",
)
NEEDS_HOSTS = True  # Lab.up brings the data plane up before this step


def security_groups(ctx: Context) -> None:
    """app 5000 and 9100, web 9100 and the Nginx status exporter: from the monitoring SG only.
    The monitoring server's Alertmanager UI: from the admin CIDR, like Prometheus'."""
    state = ctx.state()
    groups = state.security_groups
    missing = [role for role in ("web", "app", "monitoring") if role not in groups]
    if missing or state.vpc is None:
        raise VpclabError(
            f"the {', '.join(missing) or 'VPC'} security group is missing",
            "run 'vpclab up --through instances'",
        )
    ports, vpc_id = ctx.spec.ports, state.vpc["VpcId"]
    mon = groups["monitoring"]["GroupId"]
    wanted = {
        **monitoring_scrapes(ports, mon),
        "monitoring": [alertmanager_admin(ports, ctx.spec.admin_cidr)],
    }
    for role, rules in wanted.items():
        ensure_security_group(ctx, role, vpc_id, groups[role], rules, "")


def program(name: str, command: list[str], user: str = "prometheus") -> str:
    return render(
        "supervisor-program.conf.j2",
        name=name,
        command=" ".join(shlex.quote(c) for c in command),
        user=user,
    )


def disable_packaged_units() -> str:
    """Stop and disable Debian's own units of what supervisor runs: one systemctl call per
    unit (one call naming a missing unit fails whole), a unit not installed skipped, and any
    other failure reported."""
    units = " ".join(PACKAGED_UNITS)
    return (
        f"if [ -d /run/systemd/system ]; then for unit in {units}; do "
        'if systemctl cat "$unit.service" >/dev/null 2>&1; then systemctl disable --now "$unit"; '
        "fi; done; fi"
    )


def supervise(host: Host, programs: dict[str, str]) -> list[str]:
    """Put the programs under supervisor and make sure each runs. Returns those whose
    configuration changed (supervisor restarted them)."""
    host.run(disable_packaged_units(), sudo=True)
    host.run(SUPERVISOR_UP, sudo=True)
    changed = [
        name
        for name, text in programs.items()
        if remote.ensure_file(host, f"{CONF_D}/{name}.conf", text, 0o644)
    ]
    host.run("supervisorctl reread >/dev/null && supervisorctl update >/dev/null", sudo=True)
    for name in programs:
        # Started when stopped by hand earlier; a running program is left alone.
        host.run(f"supervisorctl start {name} >/dev/null || true", sudo=True)
    return changed


def exporters(ctx: Context, role: str) -> None:
    ports = ctx.spec.ports
    programs = {
        "node_exporter": program(
            "node_exporter",
            ["/usr/bin/prometheus-node-exporter", f"--web.listen-address=:{ports.node_exporter}"],
        )
    }
    if role == "web":
        programs["nginx_exporter"] = program(
            "nginx_exporter",
            [
                "/usr/bin/prometheus-nginx-exporter",
                f"-nginx.scrape-uri={STATUS_URI}",
                f"-web.listen-address=:{ports.nginx_exporter}",
            ],
        )
    host = remote.open_role(ctx, role)
    try:
        changed = supervise(host, programs)
    finally:
        remote.close(host)
    if changed:
        ctx.say(f"monitoring: {', '.join(changed)} on the {role} server (under supervisor)")


def install_configs(host: Host, files: dict[str, str]) -> list[str]:
    """Write the files that differ, check them with promtool and amtool, and put the previous
    ones back when a check fails. Returns the paths that changed."""
    previous = {path: remote.read_file(host, path) for path in files}
    changed = [path for path, text in files.items() if previous[path] != text]
    for path in changed:
        host.run(f"mkdir -p {shlex.quote(path.rsplit('/', 1)[0])}", sudo=True)
        host.put_text(files[path], path, 0o644, sudo=True, owner="root:root")
    checks = [
        f"promtool check config {config.PROMETHEUS_YML}",
        f"promtool check rules {config.RULES_YML}",
        f"amtool check-config {config.ALERTMANAGER_YML}",
    ]
    for command in checks:
        result = host.run(command, sudo=True, check=False)
        if not result.ok:
            remote.put_back(host, {path: previous[path] for path in changed})
            raise VpclabError(
                f"'{command}' refused the new file, so the previous one stays: "
                f"{(result.stdout + result.stderr).strip()[-400:]}",
                "fix what it names (the project's scrape_configs or InstanceDown rule, "
                "or the spec's monitoring values), then run the step again",
            )
    return changed


def servers(ctx: Context) -> config.Servers:
    state = ctx.state()
    app, web = state.instances.get("app"), state.instances.get("web")
    if app is None or web is None:
        raise VpclabError("the app or web server is missing", "run 'vpclab up --through instances'")
    return config.Servers(app=app["PrivateIpAddress"], web=web["PrivateIpAddress"])


def prometheus(ctx: Context) -> None:
    spec = ctx.spec
    files = {
        config.PROMETHEUS_YML: config.prometheus_yml(spec, servers(ctx), ctx.spec_path.parent),
        config.RULES_YML: config.rules_yml(spec, ctx.spec_path.parent),
        config.ALERTMANAGER_YML: config.alertmanager_yml(spec),
    }
    programs = {
        "prometheus": program(
            "prometheus",
            [
                "/usr/bin/prometheus",
                f"--config.file={config.PROMETHEUS_YML}",
                f"--storage.tsdb.path={PROMETHEUS_DATA}",
                f"--web.listen-address=:{spec.ports.prometheus}",
            ],
        ),
        "alertmanager": program(
            "alertmanager",
            [
                "/usr/bin/prometheus-alertmanager",
                f"--config.file={config.ALERTMANAGER_YML}",
                f"--storage.path={ALERTMANAGER_DATA}",
                f"--web.listen-address=:{spec.ports.alertmanager}",
                "--cluster.listen-address=",  # one instance: no gossip port
            ],
        ),
    }
    host = remote.open_role(ctx, "monitoring")
    try:
        changed = install_configs(host, files)
        restarted = supervise(host, programs)
        # Reload without a restart: SIGHUP re-reads the config and the rules.
        reloads = {
            "prometheus": {config.PROMETHEUS_YML, config.RULES_YML},
            "alertmanager": {config.ALERTMANAGER_YML},
        }
        for name, paths in reloads.items():
            if name not in restarted and paths & set(changed):
                host.run(f"supervisorctl signal HUP {name} >/dev/null", sudo=True)
                ctx.say(f"monitoring: {name} reloaded its checked configuration (SIGHUP)")
    finally:
        remote.close(host)
    if changed:
        ctx.say(f"monitoring: rendered {', '.join(changed)} (promtool and amtool checked)")


def grafana_password(ctx: Context) -> str:
    """Grafana's admin password: an SSM SecureString made once (deleted by `down`)."""
    from vpclab.aws import secrets

    return secrets.ensure(
        ctx.cloud.client("ssm"), ctx.spec.name, "grafana", "admin-password", ctx.say,
        creator=ctx.creator, description=f"Grafana admin password of vpclab lab {ctx.spec.name}",
    )  # fmt: skip


def grafana(ctx: Context) -> None:
    """Grafana's provisioning files, port and admin password, over SSH like Prometheus' files
    (they do not fit in user data), then Grafana started, or restarted when they changed."""
    reason = ctx.site.why_no_grafana()
    if reason:
        ctx.say(f"monitoring: Grafana skipped: {reason}")
        return
    password = grafana_password(ctx)
    host = remote.open_role(ctx, "monitoring")
    try:
        if not host.run("test -x /usr/sbin/grafana-server", check=False).ok:
            raise VpclabError(
                "Grafana is not installed on the monitoring server",
                "see the monitoring server's /var/log/cloud-init-output.log (user data)",
            )
        placed = grafana_files.host_files(ctx.spec)
        placed[grafana_files.PASSWORD_FILE] = password + "\n"
        changed = []
        for path, text in placed.items():
            host.run(f"install -d -m 0755 {shlex.quote(path.rsplit('/', 1)[0])}", sudo=True)
            if remote.ensure_file(host, path, text, 0o640, "root:grafana"):
                changed.append(path)
        if remote.ensure_file(
            host, grafana_files.UNIT_DROPIN, grafana_files.unit_dropin(ctx.spec), 0o644
        ):
            changed.append(grafana_files.UNIT_DROPIN)
        running = host.run("systemctl is-active --quiet grafana-server", check=False).ok
        if changed or not running:
            host.run(
                "systemctl daemon-reload && systemctl enable grafana-server && "
                "systemctl restart grafana-server",
                sudo=True,
            )
            ctx.say("monitoring: Grafana (re)started with its provisioned dashboard")
        _grafana_login(ctx, host, password)
    finally:
        remote.close(host)


def _grafana_login(ctx: Context, host: Host, password: str, timeout: float = 120.0) -> None:
    """Wait until Grafana answers; if the admin password is refused (set before the lab's),
    reset it from stdin with Grafana's CLI."""
    from vpclab.monitoring.grafana_api import curl_on_host

    get = curl_on_host(host, ctx.spec.ports.grafana, password)
    deadline = time.monotonic() + timeout
    status = 0
    while time.monotonic() < deadline:
        try:
            status, _ = get("/api/user")
        except OSError:
            status = 0
        if status in (200, 401):
            break
        time.sleep(2.0)
    if status == 401:
        host.run(
            "grafana cli --homepath /usr/share/grafana admin reset-admin-password "
            "--password-from-stdin >/dev/null",
            sudo=True,
            input=password + "\n",
        )
        ctx.say("monitoring: Grafana's admin password set from SSM")
    elif status != 200:
        raise VpclabError(
            f"Grafana did not answer on port {ctx.spec.ports.grafana} within {timeout:.0f} s",
            "see 'journalctl -u grafana-server' on the monitoring server",
        )


def wait_scraped(ctx: Context, timeout: float = 60.0) -> None:
    """Poll until every target has been scraped once (the first scrape lands seconds after
    a start) and the loaded config lists them all."""
    want = len(config.scrape_targets(ctx.spec, servers(ctx)))
    deadline = time.monotonic() + timeout
    seen: list = []
    while time.monotonic() < deadline:
        try:
            seen = prometheus_of(ctx).targets()
        except (OSError, ValueError, VpclabError):
            seen = []
        if len(seen) == want and all(t.health != "unknown" for t in seen):
            up = sum(t.health == "up" for t in seen)
            ctx.say(f"monitoring: Prometheus scrapes {len(seen)} targets, {up} up")
            return
        time.sleep(1.0)
    ctx.say(f"monitoring: Prometheus has scraped {len(seen)} of {want} targets so far")


def warm_up(ctx: Context) -> None:
    """Bounded real traffic from the lab's internet through the web server, until every
    dashboard panel answers with a number (a fresh app has no request counters yet)."""
    prom = prometheus_of(ctx)
    panels = dashboard_panels(ctx.spec.monitoring.rate_window)
    web = remote.where(ctx, "web")
    address, port = web.public_ip or web.private_ip, ctx.spec.ports.https
    tls = remote.site_tls(ctx)

    def send(path: str) -> int:
        return remote.http_get(ctx, address, port, path, tls=tls).status

    def missing() -> list[str]:
        try:
            return warmup.missing_data(prom, panels, finite=True)
        except (OSError, ValueError, VpclabError) as exc:
            return [f"Prometheus ({exc})"]

    pace, timeout = warmup.pace_for(ctx.spec.monitoring.scrape_interval)
    done = warmup.warm_up(send, missing, pace, timeout)
    if done.sent == 0:
        return  # every panel had data already: no traffic needed
    failed = f", {done.failed} unanswered or 5xx" if done.failed else ""
    ctx.say(
        f"monitoring: warm-up sent {done.sent} requests through the web server{failed}; "
        + (
            f"every panel has data after {done.seconds:.0f} s"
            if not done.missing
            else f"still no data after {done.seconds:.0f} s: {', '.join(done.missing)}"
        )
    )


def apply(ctx: Context) -> None:
    security_groups(ctx)
    reason = remote.unreachable(ctx)
    if reason:
        ctx.say(f"monitoring: hosts skipped: {reason}")
        return
    for role in ("app", "web"):
        exporters(ctx, role)
    prometheus(ctx)
    grafana(ctx)
    wait_scraped(ctx)
    warm_up(ctx)

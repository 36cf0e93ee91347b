"""Step `nginx`: the web server's reverse proxy to the private app, rendered from state.

The app's private address comes from the control plane, never typed by hand. The site is
served over HTTPS with a certificate from the lab CA (`vpclab.labca`); port 80 only
redirects. The new config is checked with `nginx -t` before any reload; when the check
fails the previous config is put back, so a running proxy is never left with a broken one.
"""

from __future__ import annotations

from vpclab import blanks, labca, remote
from vpclab.errors import VpclabError
from vpclab.facts.nginx_site import CONNECT_TIMEOUT, DEFAULT_SITE, ENABLED, SITE
from vpclab.hosts.ssh import Host
from vpclab.render import render, render_text
from vpclab.steps.context import Context

ERROR_ROOT = "/var/www/vpclab"
BODY_LIMIT = "1m"
TLS_DIR = "/etc/nginx/tls"
TLS_CERT = f"{TLS_DIR}/microblog.crt"
TLS_KEY = f"{TLS_DIR}/microblog.key"
# One day: enough to show and check HSTS, short enough that a public name or address handed
# to someone else after the lab (AWS recycles them) is not pinned to HTTPS for long. No
# includeSubDomains: the lab owns no domain.
HSTS_MAX_AGE = 86400
# The site's template, read from the project the lab deploys (a student writes its
# `location /`): see vpclab.blanks.
TEMPLATE = "vpclab/render/templates/nginx-site.conf.j2"
# Running or not, then start or reload: under systemd where there is one; otherwise nginx's
# own master daemonizes (every stream closed, so the SSH channel can end).
RELOAD = (
    "if [ -d /run/systemd/system ]; then systemctl enable --now nginx >/dev/null 2>&1; "
    "systemctl reload nginx; "
    'elif [ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then '
    "nginx -s reload; else nginx </dev/null >/dev/null 2>&1; fi"
)
RUNNING = '[ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)"'


def site(ctx: Context, app_ip: str, monitoring_ip: str) -> str:
    """The site rendered from the project's template (the student's, in a handout)."""
    template = blanks.read(ctx.spec_path.parent, TEMPLATE)
    return render_text(template, TEMPLATE, **site_values(ctx, app_ip, monitoring_ip))


def site_values(ctx: Context, app_ip: str, monitoring_ip: str) -> dict[str, object]:
    """What the site template is rendered from."""
    https = ctx.spec.ports.https
    return {
        "lab": ctx.spec.name,
        "app_ip": app_ip,
        "app_port": ctx.spec.ports.app,
        "http_port": ctx.spec.ports.http,
        "https_port": https,
        "https_suffix": "" if https == 443 else f":{https}",
        "tls_cert": TLS_CERT,
        "tls_key": TLS_KEY,
        "hsts_max_age": HSTS_MAX_AGE,
        "connect_timeout": CONNECT_TIMEOUT,
        "monitoring_ip": monitoring_ip,
        "body_limit": BODY_LIMIT,
        "error_root": ERROR_ROOT,
    }


def cert_names(ctx: Context) -> list[str]:
    """What the web server's certificate names: its public address and public DNS name, and
    127.0.0.1 on the local target (the site is also published on a localhost port)."""
    web = ctx.state().instances.get("web") or {}
    names = [web.get("PublicIpAddress") or "", web.get("PublicDnsName") or ""]
    if ctx.site.site_on_loopback:
        names.append("127.0.0.1")
    return [n for n in names if n]


def install_tls(ctx: Context, web: Host) -> bool:
    """The lab CA's certificate for the web server, and its key (root's, 0600), in place on
    the web server. Returns whether either changed."""
    issued = labca.ensure_server_cert(ctx.spec.name, cert_names(ctx), ctx.spec_path)
    web.run(f"install -d -m 0755 -o root -g root {TLS_DIR}", sudo=True)
    key = remote.ensure_file(web, TLS_KEY, issued.key_pem, 0o600)
    cert = remote.ensure_file(web, TLS_CERT, issued.cert_pem, 0o644)
    return key or cert


def install(web: Host, text: str, tls_changed: bool = False) -> bool:
    """Put the site in place and (re)load nginx, keeping the previous config when `nginx -t`
    fails. Returns whether anything changed."""
    previous = remote.read_file(web, SITE)
    linked = web.run(f"[ -L {ENABLED} ] && [ ! -e {DEFAULT_SITE} ]", check=False).ok
    running = web.run(RUNNING, sudo=True, check=False).ok
    if previous == text and linked and running and not tls_changed:
        return False
    if previous != text:
        web.put_text(text, SITE, 0o644, sudo=True, owner="root:root")
    # The default site also claims default_server on port 80.
    web.run(f"ln -sfn {SITE} {ENABLED} && rm -f {DEFAULT_SITE}", sudo=True)
    test = web.run("nginx -t", sudo=True, check=False)
    if not test.ok:
        remote.put_back(web, {SITE: previous})
        if previous is None:  # nor a link to it
            web.run(f"rm -f {ENABLED}", sudo=True)
        raise VpclabError(
            f"nginx -t refused the new config, so the previous one stays: "
            f"{test.stderr.strip()[-400:]}",
            "fix the template or the values it was rendered from, then run the step again",
        )
    web.run(RELOAD, sudo=True)
    return True


NEEDS_HOSTS = True  # Lab.up brings the data plane up before this step


def apply(ctx: Context) -> None:
    reason = remote.unreachable(ctx)
    if reason:
        ctx.say(f"nginx: hosts skipped: {reason}")
        return
    state = ctx.state()
    app = state.instances.get("app")
    if app is None:
        raise VpclabError(
            "there is no app server to proxy to", "run 'vpclab up --through instances'"
        )
    monitoring = state.instances.get("monitoring")
    # Nobody may read the counters while there is no monitoring server.
    monitoring_ip = monitoring["PrivateIpAddress"] if monitoring else "127.0.0.1"
    text = site(ctx, app["PrivateIpAddress"], monitoring_ip)
    web = remote.open_role(ctx, "web")
    try:
        page = render("502.html.j2", lab=ctx.spec.name)
        remote.ensure_file(web, f"{ERROR_ROOT}/502.html", page, 0o644)
        tls_changed = install_tls(ctx, web)
        if tls_changed:
            ctx.say(
                f"nginx: the web server's certificate from the lab CA is in place "
                f"({', '.join(cert_names(ctx))}); trust "
                f"{labca.ca_cert_path(ctx.spec.name, ctx.spec_path)}"
            )
        if install(web, text, tls_changed):
            ctx.say(
                f"nginx on the web server proxies HTTPS :{ctx.spec.ports.https} to the app at "
                f"{app['PrivateIpAddress']}:{ctx.spec.ports.app}, :{ctx.spec.ports.http} "
                "redirects to HTTPS (config checked with nginx -t)"
            )
    finally:
        remote.close(web)

"""Checks of step `nginx`: the proxy points at the app's current address, its config is
valid, the internet reaches it over HTTPS with the lab CA's certificate (plain HTTP only
redirects), and what is private stays private."""

from __future__ import annotations

import ssl

from vpclab import labca, remote
from vpclab.checks import Facts, Outcome, check, fail, ok, skip
from vpclab.checks.hosts import on_hosts, public_web
from vpclab.facts import nginx_site
from vpclab.facts.pipeline_build import inside_build


@check(
    "nginx.proxies_to_app",
    "Nginx proxies to the app server's current private IP on the app port",
    "the site is rendered from state, never typed: run 'vpclab up --through nginx' to "
    "render it again from the app's current address",
)
@on_hosts
def _proxies_to_app(facts: Facts) -> Outcome:
    app = facts.state.instances.get("app")
    if app is None:
        return fail("there is no app server in the control plane")
    want = nginx_site.Upstream(app["PrivateIpAddress"], facts.spec.ports.app)
    config = remote.read_file(remote.shared(facts, "web"), nginx_site.SITE)
    if config is None:
        return fail(f"no site at {nginx_site.SITE} on the web server")
    have = nginx_site.proxied(config)
    shown = ", ".join(f"{u.address}:{u.port}" for u in have) or "nothing"
    if have != [want]:
        return fail(f"proxies to {shown}; the app is at {want.address}:{want.port}")
    return ok(f"proxy_pass → {shown}")


@check(
    "nginx.config_valid",
    "nginx -t accepts the web server's config",
    "read the error nginx -t names, fix the site, and run 'vpclab up --through nginx'",
)
@on_hosts
def _config_valid(facts: Facts) -> Outcome:
    result = remote.shared(facts, "web").run("nginx -t", sudo=True, check=False)
    last = result.stderr.strip().splitlines()[-1:] or [f"exit {result.rc}"]
    return ok(last[0]) if result.ok else fail(last[0])


@check(
    "nginx.internet_to_web_http",
    "The internet reaches Nginx on the web server's public address, port 80",
    "nginx must run on web (run 'vpclab up --through nginx'), and the web SG must allow 80 "
    "from 0.0.0.0/0",
)
@on_hosts
def _internet_to_web(facts: Facts) -> Outcome:
    web, port = public_web(facts), facts.spec.ports.http
    try:
        # Nginx answers port 80 itself (a redirect), so a slow or stopped app cannot make the
        # web server look unreachable.
        reply = remote.http_get(facts, web.public_ip, port, "/metrics")
    except OSError as exc:
        return fail(f"{web.public_ip}:{port}: {exc or type(exc).__name__}")
    server = reply.headers.get("server", "")
    if "nginx" not in server:
        return fail(f"{web.public_ip}:{port} answered {reply.status} from {server or 'unknown'}")
    return ok(f"{web.public_ip}:{port} → HTTP {reply.status} ({server})")


@check(
    "nginx.http_redirects_to_https",
    "Plain HTTP answers only with a permanent redirect to the same page over HTTPS",
    "a login sent over plain HTTP can be read by anyone on the path: port 80's server needs "
    "'return 301 https://$host$request_uri;' and no page of its own: run "
    "'vpclab up --through nginx'",
)
@on_hosts
def _redirects(facts: Facts) -> Outcome:
    web, port = public_web(facts), facts.spec.ports.http
    path = "/explore?page=2"
    reply = remote.http_get(
        facts, web.public_ip, port, path, timeout=nginx_site.CONNECT_TIMEOUT + 5
    )
    https = facts.spec.ports.https
    want = f"https://{web.public_ip}{'' if https == 443 else f':{https}'}{path}"
    have = reply.headers.get("location", "")
    if reply.status != 301 or have != want:
        shown = f" → {have}" if have else ""
        return fail(
            f"GET http://{web.public_ip}{path}: HTTP {reply.status}{shown}; want 301 → {want}"
        )
    return ok(f"http://{web.public_ip}{path} → 301 {want}")


def _handshake(facts: Facts, address: str, name: str, tls: ssl.SSLContext) -> dict:
    """The peer certificate of a TLS handshake with address:443 that asks for `name`."""
    sock = remote.connect(facts, address, facts.spec.ports.https)
    with tls.wrap_socket(sock, server_hostname=name) as conn:
        return conn.getpeercert() or {}


@check(
    "nginx.certificate_trusted",
    "The web server's certificate verifies against the lab CA and names its public address "
    "and DNS name",
    "the certificate must be signed by the lab CA and name the web server's current public "
    "address (and DNS name): run 'vpclab up --through nginx' to issue and install it again",
)
@on_hosts
def _certificate(facts: Facts) -> Outcome:
    ca = labca.ca_cert_path(facts.spec.name, facts.spec_path)
    if not ca.exists() and inside_build():
        return skip(
            "the lab CA is the operator's: its certificate is not in a build's state folder"
        )
    tls = labca.client_context(facts.spec.name, facts.spec_path)
    web = public_web(facts)
    instance = facts.state.instances.get("web") or {}
    names = [web.public_ip] + ([instance["PublicDnsName"]] if instance.get("PublicDnsName") else [])
    peer: dict = {}
    for name in names:
        try:
            peer = _handshake(facts, web.public_ip, name, tls)
        except ssl.SSLCertVerificationError as exc:
            return fail(f"{web.public_ip}:{facts.spec.ports.https} as {name}: {exc.verify_message}")
    return ok(f"{', '.join(names)}: verified with {ca.name}, valid until {peer.get('notAfter')}")


@check(
    "nginx.hsts",
    "HTTPS answers carry Strict-Transport-Security, Nginx's own pages and the app's alike",
    "browsers then refuse plain HTTP to this site: the HTTPS server needs "
    "'add_header Strict-Transport-Security \"max-age=...\" always;' (always: on the 404 and "
    "502 pages too): run 'vpclab up --through nginx'",
)
@on_hosts
def _hsts(facts: Facts) -> Outcome:
    seen = []
    # /metrics is Nginx's own 404; / goes to the app, and when the app is down Nginx waits
    # its proxy_connect_timeout before its 502 page: the default wait outlasts it.
    for path in ("/metrics", "/"):
        reply = remote.site_get(facts, path)
        value = reply.headers.get("strict-transport-security", "")
        if "max-age=" not in value or value.split("max-age=")[1].split(";")[0].strip() in ("", "0"):
            return fail(
                f"GET {path} (HTTP {reply.status}): Strict-Transport-Security {value or 'missing'}"
            )
        seen.append(f"{path} {reply.status}")
    return ok(f"{', '.join(seen)}: Strict-Transport-Security: {value}")


@check(
    "nginx.private_paths",
    "/metrics is not public, and stub_status answers only the monitoring server",
    "keep 'location = /metrics { return 404; }' and 'allow <monitoring IP>; deny all;' on "
    "/nginx_status: run 'vpclab up --through nginx'",
)
@on_hosts
def _private_paths(facts: Facts) -> Outcome:
    web, port = public_web(facts), facts.spec.ports.http
    metrics = remote.site_get(facts, "/metrics")
    if metrics.status == 200:
        return fail("the internet reads /metrics through the proxy")
    status = remote.http_get(facts, web.public_ip, port, nginx_site.STATUS_PATH)
    if status.status == 200:
        return fail(f"the internet reads {nginx_site.STATUS_PATH}")
    seen = f"/metrics {metrics.status}, {nginx_site.STATUS_PATH} {status.status} from the internet"
    if "monitoring" not in facts.state.instances:
        return ok(seen)
    url = f"http://{web.private_ip}:{port}{nginx_site.STATUS_PATH}"
    got = remote.shared(facts, "monitoring").run(f"curl -s --max-time 3 {url}", check=False)
    if "Active connections" not in got.stdout:
        return fail(f"{seen}; the monitoring server cannot read it either")
    return ok(f"{seen}; 200 from monitoring")


SECURITY_HEADERS = ("x-content-type-options", "x-frame-options", "referrer-policy")


@check(
    "nginx.own_pages_hardened",
    "Nginx's own pages name no version and carry the security headers",
    "the site needs 'server_tokens off;' and add_header X-Content-Type-Options, "
    "X-Frame-Options and Referrer-Policy with 'always', in both servers (80 and 443): run "
    "'vpclab up --through nginx'",
)
@on_hosts
def _own_pages(facts: Facts) -> Outcome:
    web = public_web(facts)
    pages = {
        "https /metrics": remote.site_get(facts, "/metrics"),  # Nginx's own 404
        "http /": remote.http_get(facts, web.public_ip, facts.spec.ports.http, "/"),  # its 301
    }
    for label, reply in pages.items():
        server = reply.headers.get("server", "")
        missing = [h for h in SECURITY_HEADERS if h not in reply.headers]
        if server != "nginx" or missing:
            shown = f"Server: {server or 'none'}" + (
                f"; no {', '.join(missing)}" if missing else ""
            )
            return fail(f"{label} (HTTP {reply.status}): {shown}")
    shown = ", ".join(f"{label} {reply.status}" for label, reply in pages.items())
    return ok(f"{shown}: Server: nginx, {', '.join(SECURITY_HEADERS)}")

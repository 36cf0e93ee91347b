"""Checks of step `nginx`: the proxy points at the app's current address, its config is
valid, the internet reaches it, and what is private stays private."""

from __future__ import annotations

from vpclab.checks import Facts, Outcome, check, fail, ok
from vpclab.checks.hosts import on_hosts, public_web
from vpclab.steps import nginx, remote


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
    want = nginx.Upstream(app["PrivateIpAddress"], facts.spec.ports.app)
    config = remote.read_file(remote.shared(facts, "web"), nginx.SITE)
    if config is None:
        return fail(f"no site at {nginx.SITE} on the web server")
    have = nginx.proxied(config)
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
        # Nginx answers /metrics itself (404 to the public), so a slow or stopped app
        # cannot make the web server look unreachable.
        reply = remote.http_get(facts, web.public_ip, port, "/metrics")
    except OSError as exc:
        return fail(f"{web.public_ip}:{port}: {exc or type(exc).__name__}")
    server = reply.headers.get("server", "")
    if "nginx" not in server:
        return fail(f"{web.public_ip}:{port} answered {reply.status} from {server or 'unknown'}")
    return ok(f"{web.public_ip}:{port} → HTTP {reply.status} ({server})")


@check(
    "nginx.private_paths",
    "/metrics is not public, and stub_status answers only the monitoring server",
    "keep 'location = /metrics { return 404; }' and 'allow <monitoring IP>; deny all;' on "
    "/nginx_status: run 'vpclab up --through nginx'",
)
@on_hosts
def _private_paths(facts: Facts) -> Outcome:
    web, port = public_web(facts), facts.spec.ports.http
    metrics = remote.http_get(facts, web.public_ip, port, "/metrics")
    if metrics.status == 200:
        return fail("the internet reads /metrics through the proxy")
    status = remote.http_get(facts, web.public_ip, port, nginx.STATUS_PATH)
    if status.status == 200:
        return fail(f"the internet reads {nginx.STATUS_PATH}")
    seen = f"/metrics {metrics.status}, {nginx.STATUS_PATH} {status.status} from the internet"
    if "monitoring" not in facts.state.instances:
        return ok(seen)
    url = f"http://{web.private_ip}:{port}{nginx.STATUS_PATH}"
    got = remote.shared(facts, "monitoring").run(f"curl -s --max-time 3 {url}", check=False)
    if "Active connections" not in got.stdout:
        return fail(f"{seen}; the monitoring server cannot read it either")
    return ok(f"{seen}; 200 from monitoring")


SECURITY_HEADERS = ("x-content-type-options", "x-frame-options", "referrer-policy")


@check(
    "nginx.own_pages_hardened",
    "Nginx's own pages name no version and carry the security headers",
    "the site needs 'server_tokens off;' and add_header X-Content-Type-Options, "
    "X-Frame-Options and Referrer-Policy with 'always': run 'vpclab up --through nginx'",
)
@on_hosts
def _own_pages(facts: Facts) -> Outcome:
    web, port = public_web(facts), facts.spec.ports.http
    reply = remote.http_get(facts, web.public_ip, port, "/metrics")  # Nginx's own 404
    server = reply.headers.get("server", "")
    missing = [h for h in SECURITY_HEADERS if h not in reply.headers]
    if server != "nginx" or missing:
        shown = f"Server: {server or 'none'}" + (f"; no {', '.join(missing)}" if missing else "")
        return fail(f"/metrics (HTTP {reply.status}): {shown}")
    return ok(f"/metrics {reply.status}: Server: nginx, {', '.join(SECURITY_HEADERS)}")

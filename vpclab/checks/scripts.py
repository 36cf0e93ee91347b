"""Checks of step `scripts`: the microblog is served through the proxy from the release that
was deployed, by a gunicorn that listens for the web server and outlives any SSH session."""

from __future__ import annotations

import json
import re

from vpclab import remote
from vpclab.checks import Facts, Outcome, check, fail, ok
from vpclab.checks.hosts import on_hosts
from vpclab.facts import app_deploy


def _public(facts: Facts) -> tuple[str, int]:
    web = remote.where(facts, "web")
    if not web.public_ip:
        raise OSError("the web server has no public address")
    return web.public_ip, facts.spec.ports.https


@check(
    "scripts.microblog_through_web",
    "The web server's public address serves the microblog",
    "see 'vpclab verify --step nginx' and the app's log (/var/log/supervisor/microblog.log "
    "on the app server), then run 'vpclab up --through scripts'",
)
@on_hosts
def _through_web(facts: Facts) -> Outcome:
    address, port = _public(facts)
    reply = remote.site_get(facts, "/explore")
    if reply.status != 200 or "microblog" not in reply.body.lower():
        title = re.search(r"<title>(.*?)</title>", reply.body, re.S | re.I)
        shown = title[1].strip() if title else reply.body[:60]
        return fail(f"GET /explore through {address}: HTTP {reply.status} {shown!r}")
    return ok(f"GET /explore through {address}:{port}: HTTP 200, the microblog")


@check(
    "scripts.healthz_commit",
    "/healthz through the proxy reports the deployed commit",
    "the app serving is not the release in /opt/microblog/current: run "
    "'vpclab up --through scripts' and read start_app's messages",
)
@on_hosts
def _healthz(facts: Facts) -> Outcome:
    deployed = (remote.read_file(remote.shared(facts, "app"), app_deploy.REVISION) or "").strip()
    if not deployed:
        return fail("nothing is deployed (no /opt/microblog/current/REVISION)")
    reply = remote.site_get(facts, "/healthz")
    try:
        body = json.loads(reply.body)
    except ValueError:
        return fail(f"/healthz: HTTP {reply.status}, not JSON")
    if body.get("status") != "ok" or body.get("commit") != deployed:
        return fail(
            f"/healthz: HTTP {reply.status} status {body.get('status')!r} commit "
            f"{str(body.get('commit'))[:12]!r}; deployed {deployed[:12]}"
        )
    return ok(f"/healthz ok, commit {deployed[:12]}")


def _listeners(facts: Facts) -> list[str]:
    app = remote.shared(facts, "app")
    out = app.run(f"ss -ltnH 'sport = :{facts.spec.ports.app}'", check=False).stdout
    return [line.split()[3] for line in out.splitlines() if len(line.split()) > 3]


@check(
    "scripts.app_listens_for_web",
    "gunicorn listens on every address of the app server, and the web server reaches it",
    "gunicorn must bind 0.0.0.0:<app port> (GUNICORN_BIND in /etc/microblog/microblog.env), "
    "not 127.0.0.1: run 'vpclab up --through scripts'",
)
@on_hosts
def _listens(facts: Facts) -> Outcome:
    port = facts.spec.ports.app
    listening = _listeners(facts)
    if not listening:
        return fail(f"nothing listens on port {port} of the app server")
    if not any(a.split(":")[0] in ("0.0.0.0", "*", "[::]") for a in listening):
        return fail(
            f"gunicorn listens on {', '.join(listening)} only: the web server cannot reach it"
        )
    app = remote.where(facts, "app")
    got = remote.shared(facts, "web").run(
        f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 3 http://{app.private_ip}:{port}/healthz",
        check=False,
    )
    if got.stdout.strip() != "200":
        return fail(
            f"web → {app.private_ip}:{port}/healthz: {got.stdout.strip() or 'no answer'}",
            "gunicorn listens on every address, so the path is blocked: the app SG must allow "
            f"{port} from the web SG (see 'vpclab verify --step instances')",
        )
    return ok(f"listening on {', '.join(listening)}; web → {app.private_ip}:{port}: 200")


@check(
    "scripts.internet_to_app_blocked",
    "The internet cannot reach the running app on its port",
    "the app must have no public IP and its SG must allow the app port only from the web SG",
)
@on_hosts
def _internet_blocked(facts: Facts) -> Outcome:
    app = remote.where(facts, "app")
    port = facts.spec.ports.app
    targets = [a for a in (app.private_ip, app.public_ip) if a]
    opened = [a for a in targets if remote.can_connect(facts, a, port)]
    if opened:
        return fail(f"the internet connected to {', '.join(opened)}:{port}")
    return ok(f"internet → {'/'.join(targets)}:{port}: refused or timed out")


@check(
    "scripts.app_supervised",
    "gunicorn runs under supervisor, so it outlives the deploying SSH session and restarts",
    "start gunicorn with start_app.sh (supervisor program 'microblog'), never with nohup or "
    "'&' in an SSH session: run 'vpclab up --through scripts'",
)
@on_hosts
def _supervised(facts: Facts) -> Outcome:
    app = remote.shared(facts, "app")
    status = app.run(f"supervisorctl status {app_deploy.PROGRAM}", sudo=True, check=False).stdout
    match = re.search(r"RUNNING\s+pid (\d+)", status)
    if not match:
        return fail(f"supervisor: {status.strip() or 'not running'}")
    pid = match[1]
    chain = app.run(
        f'p={pid}; while [ "$p" -gt 1 ]; do ps -o pid=,comm= -p "$p"; '
        "p=$(ps -o ppid= -p \"$p\" | tr -d ' '); done",
        check=False,
    ).stdout
    names = [line.split()[-1] for line in chain.splitlines() if line.split()]
    if any(name.startswith("sshd") for name in names[1:]) and "supervisord" not in names:
        return fail(f"gunicorn {pid} descends from an SSH session: {' < '.join(names)}")
    if "supervisord" not in names:
        return fail(f"gunicorn {pid} is not a child of supervisord: {' < '.join(names)}")
    return ok(f"gunicorn master {pid} under supervisord ({' < '.join(names)})")


@check(
    "scripts.login_limits_shared",
    "memcached runs on the app server, so every gunicorn worker shares the login limits",
    "start_app.sh runs memcached (supervisor program 'memcached', or the system service on "
    "AWS); without it each worker counts login attempts alone: run "
    "'vpclab up --through scripts'",
)
@on_hosts
def _limits_shared(facts: Facts) -> Outcome:
    app = remote.shared(facts, "app")
    probe = (
        'python3 -c \'import socket; s = socket.create_connection(("127.0.0.1", 11211), 2); '
        's.sendall(b"version\\r\\n"); print(s.recv(64).decode().strip())\''
    )
    reply = app.run(probe, check=False)
    if not reply.ok or not reply.stdout.startswith("VERSION"):
        return fail("nothing answers on 127.0.0.1:11211 of the app server")
    return ok(f"memcached on 127.0.0.1:11211 ({reply.stdout.strip()})")


@check(
    "scripts.env_file_private",
    "The app's env file, which holds SECRET_KEY, is a regular file of root's, mode 0600",
    f"chown root:root and chmod 600 {app_deploy.ENV_FILE} on the app server (and 700 its "
    "folder): 'vpclab up --through scripts' restores both",
)
@on_hosts
def _env_file_private(facts: Facts) -> Outcome:
    app = remote.shared(facts, "app")
    folder = app_deploy.ENV_FILE.rsplit("/", 1)[0]
    # stat without -L: a link is reported as a link, never followed.
    listing = app.run(
        f"stat -c '%F|%a|%U:%G|%n' {app_deploy.ENV_FILE} {folder}", sudo=True, check=False
    )
    if not listing.ok:
        return fail(f"{app_deploy.ENV_FILE}: {listing.stderr.strip()[-160:] or 'missing'}")
    (kind, mode, owner, _), (_, folder_mode, folder_owner, _) = (
        line.split("|", 3) for line in listing.stdout.splitlines()[:2]
    )
    wrong = []
    if kind != "regular file":
        wrong.append(f"{app_deploy.ENV_FILE} is a {kind}")
    if mode != "600" or owner != "root:root":
        wrong.append(f"{app_deploy.ENV_FILE} is {mode} {owner}")
    if int(folder_mode, 8) & 0o077 or folder_owner != "root:root":
        wrong.append(f"{folder} is {folder_mode} {folder_owner}")
    if wrong:
        return fail("; ".join(wrong))
    return ok(f"{app_deploy.ENV_FILE}: 600 root:root, in a {folder_mode} folder")


@check(
    "scripts.session_cookie_secure",
    "The app's session cookie is Secure (sent over HTTPS only) and HttpOnly",
    "without Secure, a browser sends the session over plain HTTP too, where anyone on the path "
    f"reads it: the app needs SESSION_COOKIE_SECURE=1 in {app_deploy.ENV_FILE} (start_app.sh "
    "writes it): run 'vpclab up --through scripts'",
)
@on_hosts
def _cookie_secure(facts: Facts) -> Outcome:
    # The login page puts its CSRF token in the session, so it always sets the cookie.
    reply = remote.site_get(facts, "/auth/login")
    cookie = reply.headers.get("set-cookie", "")
    if not cookie:
        return fail(f"GET /auth/login (HTTP {reply.status}) set no cookie")
    name = cookie.split("=", 1)[0]
    flags = {part.strip().split("=", 1)[0].lower() for part in cookie.split(";")[1:]}
    missing = [flag for flag in ("Secure", "HttpOnly") if flag.lower() not in flags]
    if missing:
        return fail(f"the {name} cookie lacks {', '.join(missing)}")
    return ok(f"the {name} cookie: Secure, HttpOnly, SameSite={_samesite(cookie)}")


def _samesite(cookie: str) -> str:
    for part in cookie.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "samesite":
            return value
    return "unset"

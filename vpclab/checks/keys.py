"""Checks of step `keys`: each SSH path works by key, only from where it should, and no
private key or password is lying around."""

from __future__ import annotations

import shlex
from pathlib import Path

from vpclab import remote
from vpclab.checks import Facts, Outcome, check, fail, ok
from vpclab.checks.hosts import on_hosts
from vpclab.facts import ssh_keys
from vpclab.hosts.ssh import Result
from vpclab.paths import keys_dir

SSH_BATCH = "-o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=5"


@check(
    "keys.jenkins_to_web",
    "Jenkins logs into the web server by key, the host key pinned",
    "run 'vpclab up --through keys': it makes Jenkins' key as user jenkins, authorizes it "
    "on web and pins web's host key in ~jenkins/.ssh/known_hosts",
)
@on_hosts
def _jenkins_to_web(facts: Facts) -> Outcome:
    # The key runs the deploy gate only: its refusal of `true` proves the login worked.
    result = _jenkins_ssh(facts, "true")
    web = remote.where(facts, "web")
    what = f"jenkins → {ssh_keys.DEPLOY_USER}@{web.private_ip}"
    if result.ok or GATE_SAYS in result.stderr:
        return ok(f"{what}: logged in" + (", the deploy gate answered" if not result.ok else ""))
    return fail(f"{what}: {result.stderr.strip()[-200:]}")


GATE_SAYS = "deploy-gate:"
FORWARD_REFUSED = "administratively prohibited"  # OpenSSH, for a channel sshd refuses


def _jenkins_ssh(facts: Facts, command: str, options: str = ""):
    """The system ssh on the Jenkins host, as `jenkins`, to ubuntu@web running `command`."""
    web = remote.where(facts, "web")
    ssh = " ".join(
        filter(
            None,
            ("ssh -F /dev/null", options, SSH_BATCH, f"{ssh_keys.DEPLOY_USER}@{web.private_ip}"),
        )
    )
    line = f"{ssh} {shlex.quote(command)} </dev/null" if command else forward_line(ssh)
    host = remote.shared(facts, "jenkins")
    return host.run(remote.as_user(ssh_keys.JENKINS_USER, line), check=False, timeout=30)


@check(
    "keys.jenkins_key_only_deploys",
    "Jenkins' key on the web server runs the deploy gate only: no shell, no forwarding",
    "Jenkins' line in ~ubuntu/.ssh/authorized_keys on web needs "
    "'restrict,command=\"/opt/vpclab/scripts/deploy_gate.sh /etc/vpclab/deploy.conf\"' and "
    "no other line of that key: run 'vpclab up --through keys'",
)
@on_hosts
def _jenkins_key_only_deploys(facts: Facts) -> Outcome:
    jenkins = remote.shared(facts, "jenkins")
    home = remote.home_of(jenkins, ssh_keys.JENKINS_USER)
    public = (
        remote.read_as(jenkins, ssh_keys.JENKINS_USER, f"{home}/{ssh_keys.JENKINS_KEY}.pub") or ""
    )
    mine = ssh_keys.parse_key_line(public)
    if mine is None:
        return fail("the Jenkins host has no public key of Jenkins' to compare")
    text = remote.read_as(
        remote.shared(facts, "web"), ssh_keys.DEPLOY_USER, ssh_keys.AUTHORIZED_KEYS
    )
    lines = [k for raw in (text or "").splitlines() if (k := ssh_keys.parse_key_line(raw))]
    options = sorted({k.options for k in lines if k.blob == mine.blob})
    if options != [ssh_keys.JENKINS_KEY_OPTIONS]:
        return fail(f"Jenkins' key on web has options {options or 'none (not authorized)'}")
    shell = _jenkins_ssh(facts, "id -un")
    if shell.ok or GATE_SAYS not in shell.stderr:
        return fail(f"`ssh web id -un` with Jenkins' key: exit {shell.rc} {shell.stdout.strip()!r}")
    app = remote.where(facts, "app")
    tunnel = _jenkins_ssh(facts, "", f"-W {app.private_ip}:22")
    return forward_refused(tunnel, f"{app.private_ip}:22") or ok(
        "restrict + the deploy gate: a command and a forward (-W) were refused"
    )


def forward_line(ssh: str, hold: int = 2) -> str:
    """`ssh` (a forward, -W) with its stdin open for up to `hold` seconds, time for a far
    banner to come back. A refused forward ends at once: the stdin's writer is not waited
    for, as a pipe from `sleep` would be."""
    return (
        'f=$(mktemp -u) && mkfifo -m 600 "$f" && '
        f'{{ sleep {hold} >"$f" 2>/dev/null </dev/null & }} && '
        f'timeout 10 {ssh} <"$f"; rc=$?; rm -f "$f"; exit $rc'
    )


def forward_refused(tunnel: Result, target: str) -> Outcome | None:
    """A FAIL unless web refused Jenkins' forward (-W): the refusal itself, not any failure
    (a forward allowed to a server that is down fails too)."""
    if "SSH-2.0" in tunnel.stdout:
        return fail(f"Jenkins' key forwarded a connection through web to {target}")
    if FORWARD_REFUSED not in tunnel.stderr:
        said = tunnel.stderr.strip()[-200:] or f"exit {tunnel.rc}"
        return fail(f"a forward (-W) with Jenkins' key was not refused by web: {said}")
    return None


@check(
    "keys.web_to_app",
    "The web server logs into the app server with the app key, the host key pinned",
    "run 'vpclab up --through keys': it copies the app key to ~ubuntu/.ssh/app_key (0600) on "
    "web and pins the app's host key in ~ubuntu/.ssh/known_hosts",
)
@on_hosts
def _web_to_app(facts: Facts) -> Outcome:
    key = f"-i {ssh_keys.APP_KEY_ON_WEB} -o IdentitiesOnly=yes"
    return _login(facts, "web", "app", options=key, logged_in="logged in with the app key")


def _login(
    facts: Facts,
    source: str,
    target: str,
    *,
    options: str = "",
    as_user: str | None = None,
    logged_in: str = "logged in",
) -> Outcome:
    """The system ssh on `source` (as `as_user`, else ubuntu) logs into `target` by key,
    host key pinned, in batch mode."""
    to = remote.where(facts, target)
    host = remote.shared(facts, source)
    cmd = " ".join(
        filter(None, ("ssh", options, SSH_BATCH, f"{ssh_keys.DEPLOY_USER}@{to.private_ip}"))
    )
    cmd += " true"
    if as_user:
        cmd = f"sudo -n -u {as_user} -H sh -c {shlex.quote(cmd)}"
    result = host.run(cmd, check=False, timeout=30)
    what = f"{source} → {ssh_keys.DEPLOY_USER}@{to.private_ip}"
    if result.ok:
        return ok(f"{what}: {logged_in}")
    return fail(f"{what}: {result.stderr.strip()[-200:]}")


def _refused_from_app_itself(facts: Facts, app_ip: str) -> bool:
    """Log in to the app with the app key from an address that is not the web server's:
    the app's own (a tunnel through its sshd, so the source is the app). True if refused."""
    app = remote.shared(facts, "app")
    key_file = keys_dir(facts.spec.name, facts.spec_path) / (
        facts.spec.instance("app").key_name + ".pem"
    )
    channel = app.transport.open_channel("direct-tcpip", (app_ip, 22), ("127.0.0.1", 0), timeout=5)
    import paramiko  # here, not with the module (see vpclab.hosts.ssh)

    transport = paramiko.Transport(channel)
    try:
        transport.start_client(timeout=10)
        transport.auth_publickey(ssh_keys.DEPLOY_USER, paramiko.PKey.from_path(key_file))
        return not transport.is_authenticated()
    except paramiko.AuthenticationException:
        return True
    finally:
        transport.close()


@check(
    "keys.app_key_only_from_web",
    "The app key works on the app server only from the web server's private address",
    'the app\'s authorized_keys line for the app key needs from="<web private IP>" and '
    "nothing else: run 'vpclab up --through keys'",
)
@on_hosts
def _app_key_only_from_web(facts: Facts) -> Outcome:
    web, app_at = remote.where(facts, "web"), remote.where(facts, "app")
    key_type, blob = ssh_keys.public_key(facts, "app")
    text = remote.read_file(remote.shared(facts, "app"), ssh_keys.AUTHORIZED_KEYS) or ""
    lines = [
        k for raw in text.splitlines() if (k := ssh_keys.parse_key_line(raw)) and k.blob == blob
    ]
    if not lines:
        return fail("the app key is not in the app's authorized_keys")
    allowed = sorted({ssh_keys.from_option(k.options) or "any address" for k in lines})
    if allowed != [web.private_ip]:
        return fail(f"the app key is accepted from {', '.join(allowed)}; web is {web.private_ip}")
    if not _refused_from_app_itself(facts, app_at.private_ip):
        return fail(f"the app key logged in from {app_at.private_ip}, which is not the web server")
    return ok(f'from="{web.private_ip}"; refused from {app_at.private_ip}')


def _offers_password(facts: Facts, role: str) -> list[str]:
    """The auth methods a host's sshd offers before any key is tried."""
    host = remote.shared(facts, role)
    here = remote.where(facts, role)
    if host.via is not None:
        sock = host.via.transport.open_channel(
            "direct-tcpip", (here.private_ip, 22), ("127.0.0.1", 0), timeout=5
        )
    else:
        sock = remote.connect(facts, host.address, 22, timeout=5)
    import paramiko  # here, not with the module (see vpclab.hosts.ssh)

    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=10)
        try:
            transport.auth_none(ssh_keys.DEPLOY_USER)
            return ["none"]
        except paramiko.BadAuthenticationType as exc:
            return [m for m in exc.allowed_types if m in ("password", "keyboard-interactive")]
    finally:
        transport.close()


@check(
    "keys.no_password_login",
    "No host accepts a password",
    "set 'PasswordAuthentication no' and 'KbdInteractiveAuthentication no' in sshd and "
    "reload it: run 'vpclab up --through keys'",
)
@on_hosts
def _no_password(facts: Facts) -> Outcome:
    roles = [r for r in ssh_keys.ROLES if r in facts.state.instances]
    bad = {r: m for r in roles if (m := _offers_password(facts, r))}
    if bad:
        return fail("; ".join(f"{r} offers {', '.join(m)}" for r, m in sorted(bad.items())))
    return ok(f"publickey only on {', '.join(roles)}")


def _loose(listing: str) -> list[str]:
    """`stat -c '%a %n'` lines whose mode gives the group or others any access."""
    out = []
    for line in listing.splitlines():
        mode, _, name = line.partition(" ")
        if mode and int(mode, 8) & 0o077:
            out.append(f"{name} is {mode}")
    return out


@check(
    "keys.private_keys_private",
    "No private key is readable by the group or others",
    "chmod 600 each private key named here (ssh refuses loose keys, and so should you)",
)
@on_hosts
def _private_keys(facts: Facts) -> Outcome:
    local = sorted(Path(keys_dir(facts.spec.name, facts.spec_path)).glob("*.pem"))
    loose = [f"{p.name} is {p.stat().st_mode & 0o777:o}" for p in local if p.stat().st_mode & 0o077]
    web = remote.shared(facts, "web")
    loose += _loose(web.run(f"stat -c '%a %n' {ssh_keys.APP_KEY_ON_WEB}", sudo=True).stdout)
    jenkins = remote.shared(facts, "jenkins")
    home = remote.home_of(jenkins, ssh_keys.JENKINS_USER)
    loose += _loose(jenkins.run(f"stat -c '%a %n' {home}/{ssh_keys.JENKINS_KEY}", sudo=True).stdout)
    if loose:
        return fail("; ".join(loose))
    return ok(f"{len(local) + 2} private keys, all 0600")

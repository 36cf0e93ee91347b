"""Step `keys`: the SSH paths of the deployment, each with a pinned host key.

- Jenkins' own key pair is made on the Jenkins host, as user `jenkins`, so the private key
  never leaves it. Its public key is authorized on the web server, whose host key is pinned
  in Jenkins' known_hosts.
- The app key goes onto the web server (0600). On the app server that key is restricted with
  `from="<web private IP>"`, so it works only from the web server; the app's host key is
  pinned on the web server.
- Jenkins' key on web is `restrict`ed to one forced command, scripts/deploy_gate.sh: it may
  deploy a commit and nothing else (no shell, no forwarding).
- Files in a user's home are read and written as that user, never as root, so a link planted
  there (say by a build, as `jenkins`) leads nowhere the user could not go already.
- Password login is off on every host, whatever other sshd drop-ins say.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from vpclab import blanks, remote
from vpclab.errors import VpclabError
from vpclab.facts.ssh_keys import (
    APP_KEY_ON_WEB,
    AUTHORIZED_KEYS,
    DEPLOY_GATE,
    DEPLOY_USER,
    JENKINS_KEY,
    JENKINS_KEY_OPTIONS,
    JENKINS_USER,
    WEB_KNOWN_HOSTS,
    KeyLine,
    parse_key_line,
    public_key,
)
from vpclab.facts.user_data import USER_DATA_RESULT
from vpclab.hosts.ssh import Host
from vpclab.render import render_text
from vpclab.steps.context import Context
from vpclab.steps.scripts import script_text

# Named to sort first: sshd keeps the first value it reads, and drop-ins come in name order.
SSHD_DROPIN = "/etc/ssh/sshd_config.d/00-vpclab-no-password.conf"
OLD_DROPINS = ("/etc/ssh/sshd_config.d/60-vpclab-no-password.conf",)
# The project's files a student writes (vpclab.blanks): the app key's line, the drop-in.
APP_KEY_TEMPLATE = "vpclab/render/templates/authorized-key-app.j2"
SSHD_DROPIN_FILE = "vpclab/render/templates/sshd-no-password.conf"


def restrict_from(text: str, key_type: str, blob: str, address: str) -> str:
    """authorized_keys text with the key (added if missing) allowed only from `address`."""
    lines, found = [], False
    for raw in text.splitlines():
        line = parse_key_line(raw)
        if line is None or line.blob != blob:
            lines.append(raw)
            continue
        if found:
            continue  # one line per key
        found = True
        kept = [o for o in _split_options(line.options) if not o.startswith("from=")]
        options = ",".join([f'from="{address}"', *kept])
        lines.append(KeyLine(options, line.type, line.blob, line.comment).text())
    if not found:
        lines.append(KeyLine(f'from="{address}"', key_type, blob, "vpclab-app").text())
    return "\n".join(lines) + "\n"


def app_key_line(project: Path | None, key_type: str, blob: str, web_ip: str) -> KeyLine:
    """The app key's authorized_keys line as the project's template writes it (a student's,
    in a handout). Not one line of that key: a one-line error naming the file."""
    template = blanks.read(project, APP_KEY_TEMPLATE)
    text = render_text(template, APP_KEY_TEMPLATE, web_ip=web_ip, key_type=key_type, blob=blob)
    found = [k for raw in text.splitlines() if (k := parse_key_line(raw))]
    if len(found) != 1 or found[0].blob != blob:
        raise VpclabError(
            f"{APP_KEY_TEMPLATE} renders {len(found)} key lines, not the app key's one",
            "write one line: the options, then {{ key_type }} {{ blob }} and a comment",
        )
    return found[0]


def put_key_line(text: str, key: KeyLine) -> str:
    """authorized_keys text with `key`'s line exactly once, as given (other keys kept)."""
    kept = [
        raw for raw in text.splitlines() if not ((k := parse_key_line(raw)) and k.blob == key.blob)
    ]
    return "\n".join([*kept, key.text()]) + "\n"


def sshd_dropin(project: Path | None = None) -> str:
    """The sshd drop-in that turns password login off, as the project holds it."""
    return blanks.read(project, SSHD_DROPIN_FILE)


def authorize_only(text: str, public_line: str, options: str) -> str:
    """authorized_keys text with the key of `public_line` there once, with exactly `options`
    (every other line of that key goes: an unrestricted copy would defeat them)."""
    fields = public_line.split()
    key = KeyLine(options, fields[0], fields[1], " ".join(fields[2:]))
    kept = [
        raw for raw in text.splitlines() if not ((k := parse_key_line(raw)) and k.blob == key.blob)
    ]
    return "\n".join([*kept, key.text()]) + "\n"


def authorize(text: str, public_line: str) -> str:
    """authorized_keys text with `public_line` in it once."""
    blob = public_line.split()[1]
    if any((k := parse_key_line(raw)) and k.blob == blob for raw in text.splitlines()):
        return text if text.endswith("\n") or not text else text + "\n"
    return (text.rstrip("\n") + "\n" if text.strip() else "") + public_line.strip() + "\n"


def pin(text: str, address: str, host_key: str) -> str:
    """known_hosts text with `address` pinned to `host_key` only."""
    lines = [
        raw
        for raw in text.splitlines()
        if not raw.split() or address not in raw.split()[0].split(",")
    ]
    return "\n".join([*lines, f"{address} {host_key}"]) + "\n"


def _split_options(options: str) -> list[str]:
    return [o for o in re.findall(r'(?:[^,"]|"[^"]*")+', options) if o]


def jenkins_key(jenkins: Host) -> tuple[str, str]:
    """Make the jenkins user and its key pair on the Jenkins host (once); (home, public line)."""
    jenkins.run(
        f"id -u {JENKINS_USER} >/dev/null 2>&1 || "
        f"useradd --create-home --shell /bin/bash {JENKINS_USER}",
        sudo=True,
    )
    home = remote.home_of(jenkins, JENKINS_USER)
    key = f"{home}/{JENKINS_KEY}"
    make = (
        f"umask 077; mkdir -p {shlex.quote(home)}/.ssh; "
        f"test -f {shlex.quote(key)} || "
        f"ssh-keygen -q -t ed25519 -N '' -C jenkins@vpclab -f {shlex.quote(key)}; "
        f"chmod 600 {shlex.quote(key)}"
    )
    jenkins.run(f"sudo -n -u {JENKINS_USER} -H sh -c {shlex.quote(make)}")
    public = remote.read_as(jenkins, JENKINS_USER, f"{key}.pub") or ""
    if parse_key_line(public) is None:
        raise VpclabError(
            f"{key}.pub on the Jenkins host is not a public key",
            f"remove {key} and {key}.pub there, then run 'vpclab up --through keys'",
        )
    return home, public.strip()


def wait_user_data(ctx: Context, host: Host, role: str) -> None:
    """Wait until the host's user data recorded its end. Jenkins' installs Jenkins (minutes on
    AWS), and the package makes the `jenkins` user whose home holds the deploy key: making the
    key before it would race the package."""

    def result() -> str | None:
        text = remote.read_file(host, USER_DATA_RESULT)
        return text.strip() or None if text is not None else None

    seen = ctx.wait_for(
        result,
        bool,
        f"the {role} server's user data to finish",
        hint="see /var/log/cloud-init-output.log on the host, then run 'vpclab up' again",
    )
    if seen != "ok":
        raise VpclabError(
            f"the {role} server's user data {seen}",
            "read /var/log/cloud-init-output.log on the host, fix the cause, then replace the "
            "instance ('vpclab down', 'vpclab up'): user data runs only at first boot",
        )


_SSHD_FILES = "/etc/ssh/sshd_config /etc/ssh/sshd_config.d/*.conf"
_PASSWORD_ON = (
    r"^[[:space:]]*(PasswordAuthentication|KbdInteractiveAuthentication|"
    r"ChallengeResponseAuthentication)[[:space:]]+yes"
)


def password_login_on(host: Host) -> bool:
    """Whether sshd's effective configuration (`sshd -T`) lets a password in."""
    effective = host.run("sshd -T", sudo=True, check=False)
    if not effective.ok:
        raise VpclabError(
            f"sshd -T failed on {host.name}: {effective.stderr.strip()[-200:]}",
            "fix the sshd configuration it names, then run 'vpclab up --through keys'",
        )
    settings = dict(line.split(None, 1) for line in effective.stdout.splitlines() if " " in line)
    return any(
        settings.get(name, "no").strip().lower() != "no"
        for name in ("passwordauthentication", "kbdinteractiveauthentication")
    )


def no_password_login(host: Host, project: Path | None = None) -> bool:
    """Turn password login off in sshd whatever other drop-ins say: our drop-in (the
    project's `SSHD_DROPIN_FILE`) sorts first, and any line switching a password back on is
    commented out. Checked with `sshd -T`; sshd reloads only when something changed.
    Returns whether anything changed."""
    previous = remote.read_file(host, SSHD_DROPIN)
    changed = remote.ensure_file(host, SSHD_DROPIN, sshd_dropin(project), 0o644)
    if changed:
        # As Nginx's and Prometheus' steps do: a drop-in sshd refuses never stays, or sshd
        # would not start again (the next boot locks everyone out).
        test = host.run("sshd -t", sudo=True, check=False)
        if not test.ok:
            remote.put_back(host, {SSHD_DROPIN: previous})
            raise VpclabError(
                f"sshd -t on {host.name} fails with the new {SSHD_DROPIN_FILE}, so the "
                f"previous drop-in stays: {' '.join(test.stderr.split())[-300:]}",
                "fix the line it names (one keyword and its value per line), then run this again",
            )
    old = " ".join(OLD_DROPINS)
    changed = host.run(f"rm -v -f {old}", sudo=True).stdout.strip() != "" or changed
    if not password_login_on(host) and not changed:
        return False
    host.run(
        f'for f in {_SSHD_FILES}; do [ -f "$f" ] && [ ! -L "$f" ] && '
        f"grep -Eiq '{_PASSWORD_ON}' \"$f\" && "
        f"sed -Ei 's/{_PASSWORD_ON}/# (vpclab: password login stays off) &/I' \"$f\"; done; true",
        sudo=True,
    )
    host.run(
        "sshd -t && if [ -d /run/systemd/system ]; then systemctl reload ssh; "
        'else pid=$(cat /run/sshd.pid) && kill -HUP "$pid"; fi',
        sudo=True,
    )
    if password_login_on(host):
        raise VpclabError(
            f"sshd on {host.name} still accepts passwords after the repair (see `sudo sshd -T`)",
            "a Match block or an Include outside sshd_config.d turns it on: remove it, "
            "then run 'vpclab up --through keys'",
        )
    return True


NEEDS_HOSTS = True  # Lab.up brings the data plane up before this step


def apply(ctx: Context) -> None:
    reason = remote.unreachable(ctx)
    if reason:
        ctx.say(f"keys: hosts skipped: {reason}")
        return
    web_at, app_at = remote.where(ctx, "web"), remote.where(ctx, "app")
    for pem in Path(ctx.keys_dir).glob("*.pem"):
        pem.chmod(0o600)

    jenkins = remote.open_role(ctx, "jenkins")
    web = remote.open_role(ctx, "web")
    app = remote.open_role(ctx, "app")
    try:
        # Jenkins -> web: Jenkins' own key, web's host key pinned for the jenkins user.
        wait_user_data(ctx, jenkins, "jenkins")
        home, jenkins_public = jenkins_key(jenkins)
        jenkins_known = f"{home}/.ssh/known_hosts"
        web_key = remote.pinned_key(ctx, web_at.private_ip)
        current = remote.read_as(jenkins, JENKINS_USER, jenkins_known) or ""
        pinned = pin(current, web_at.private_ip, web_key)
        if remote.ensure_user_file(jenkins, JENKINS_USER, jenkins_known, pinned, 0o644):
            ctx.say(f"pinned the web server's host key in {JENKINS_USER}'s known_hosts")
        # On web, Jenkins' key runs the deploy gate only (root's, so before the key).
        if remote.ensure_file(web, DEPLOY_GATE, script_text("deploy_gate.sh"), 0o755):
            ctx.say(f"installed the deploy gate {DEPLOY_GATE} on the web server")
        current = remote.read_as(web, DEPLOY_USER, AUTHORIZED_KEYS) or ""
        wanted = authorize_only(current, jenkins_public, JENKINS_KEY_OPTIONS)
        if remote.ensure_user_file(web, DEPLOY_USER, AUTHORIZED_KEYS, wanted, 0o600):
            ctx.say("authorized Jenkins' key on the web server, for the deploy gate only")

        # web -> app: the app key on web; on app, that key only from web's private address.
        pem = Path(ctx.keys_dir) / f"{ctx.spec.instance('app').key_name}.pem"
        if remote.ensure_user_file(web, DEPLOY_USER, APP_KEY_ON_WEB, pem.read_text(), 0o600):
            ctx.say(f"copied the app key to the web server ({APP_KEY_ON_WEB}, mode 0600)")
        current = remote.read_as(web, DEPLOY_USER, WEB_KNOWN_HOSTS) or ""
        app_key = remote.pinned_key(ctx, app_at.private_ip)
        pinned = pin(current, app_at.private_ip, app_key)
        if remote.ensure_user_file(web, DEPLOY_USER, WEB_KNOWN_HOSTS, pinned, 0o644):
            ctx.say("pinned the app server's host key on the web server")
        key_type, blob = public_key(ctx, "app")
        current = remote.read_as(app, DEPLOY_USER, AUTHORIZED_KEYS) or ""
        line = app_key_line(ctx.spec_path.parent, key_type, blob, web_at.private_ip)
        wanted = put_key_line(current, line)
        if remote.ensure_user_file(app, DEPLOY_USER, AUTHORIZED_KEYS, wanted, 0o600):
            ctx.say(f'app server: the app key now works only from="{web_at.private_ip}"')

        for role, host in (("jenkins", jenkins), ("web", web), ("app", app)):
            if no_password_login(host, ctx.spec_path.parent):
                ctx.say(f"{role}: password login turned off")
        if "monitoring" in ctx.state().instances:
            monitoring = remote.open_role(ctx, "monitoring")
            try:
                if no_password_login(monitoring, ctx.spec_path.parent):
                    ctx.say("monitoring: password login turned off")
            finally:
                remote.close(monitoring)
    finally:
        for host in (app, web, jenkins):
            remote.close(host)

"""Step `keys`: the SSH paths of the deployment, each with a pinned host key.

- Jenkins' own key pair is made on the Jenkins host, as user `jenkins`, so the private key
  never leaves it. Its public key is authorized on the web server, whose host key is pinned
  in Jenkins' known_hosts.
- The app key goes onto the web server (0600). On the app server that key is restricted with
  `from="<web private IP>"`, so it works only from the web server; the app's host key is
  pinned on the web server.
- Password login is off on every host.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from vpclab.errors import VpclabError
from vpclab.hosts.ssh import Host
from vpclab.paths import keys_dir
from vpclab.steps import remote
from vpclab.steps.context import Context

JENKINS_USER = "jenkins"
DEPLOY_USER = "ubuntu"
JENKINS_KEY = ".ssh/id_ed25519"  # under Jenkins' home
APP_KEY_ON_WEB = "/home/ubuntu/.ssh/app_key"
WEB_KNOWN_HOSTS = "/home/ubuntu/.ssh/known_hosts"
AUTHORIZED_KEYS = "/home/ubuntu/.ssh/authorized_keys"
SSHD_DROPIN = "/etc/ssh/sshd_config.d/60-vpclab-no-password.conf"
SSHD_NO_PASSWORD = "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
ROLES = ("jenkins", "web", "app", "monitoring")
USER_DATA_RESULT = "/etc/vpclab/user-data"  # `ok`, or `failed: line N` (user-data.sh.j2)


@dataclass(frozen=True)
class KeyLine:
    """One authorized_keys line: its options (e.g. from="..."), key type and blob."""

    options: str
    type: str
    blob: str
    comment: str

    def text(self) -> str:
        head = f"{self.options} " if self.options else ""
        tail = f" {self.comment}" if self.comment else ""
        return f"{head}{self.type} {self.blob}{tail}"


_KEY_LINE = re.compile(
    r'^(?:(?P<options>(?:[^\s"]|"[^"]*")+)\s+)?(?P<type>(?:ssh|ecdsa|sk)-[\w@.-]+)\s+'
    r"(?P<blob>[A-Za-z0-9+/]+={0,2})(?:\s+(?P<comment>.*))?$"
)


def parse_key_line(line: str) -> KeyLine | None:
    match = _KEY_LINE.match(line.strip())
    if not match or line.lstrip().startswith("#"):
        return None
    return KeyLine(match["options"] or "", match["type"], match["blob"], match["comment"] or "")


def from_option(options: str) -> str | None:
    """The `from="..."` pattern list of a key line's options, or None."""
    match = re.search(r'(?:^|,)from="([^"]*)"', options)
    return match[1] if match else None


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


def public_key(reach: remote.Reach, role: str) -> tuple[str, str]:
    """(type, blob) of a role's key pair, from the state folder."""
    name = reach.spec.instance(role).key_name
    pub = keys_dir(reach.spec.name, reach.spec_path) / f"{name}.pub"
    if not pub.exists():
        raise VpclabError(f"the public key {pub.name} is missing", "run 'vpclab up' again")
    fields = pub.read_text().split()
    return fields[0], fields[1]


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
    return home, jenkins.run(f"cat {shlex.quote(key)}.pub", sudo=True).stdout.strip()


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


def no_password_login(host: Host) -> bool:
    """Turn password login off in sshd (reloading it only when it was on). Returns whether
    anything changed."""
    effective = host.run(
        "sshd -T 2>/dev/null | grep -Ei '^(passwordauth|kbdinteractive)'", sudo=True, check=False
    )
    if effective.ok and "yes" not in effective.stdout.lower():
        return False
    remote.ensure_file(host, SSHD_DROPIN, SSHD_NO_PASSWORD, 0o644)
    host.run(
        "sshd -t && if [ -d /run/systemd/system ]; then systemctl reload ssh; "
        'else kill -HUP "$(cat /run/sshd.pid 2>/dev/null || echo 1)"; fi',
        sudo=True,
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
        current = remote.read_file(jenkins, jenkins_known) or ""
        if remote.ensure_file(
            jenkins,
            jenkins_known,
            pin(current, web_at.private_ip, web_key),
            0o644,
            f"{JENKINS_USER}:{JENKINS_USER}",
        ):
            ctx.say(f"pinned the web server's host key in {JENKINS_USER}'s known_hosts")
        current = remote.read_file(web, AUTHORIZED_KEYS) or ""
        if remote.ensure_file(
            web, AUTHORIZED_KEYS, authorize(current, jenkins_public), 0o600, "ubuntu:ubuntu"
        ):
            ctx.say("authorized Jenkins' key on the web server")

        # web -> app: the app key on web; on app, that key only from web's private address.
        pem = Path(ctx.keys_dir) / f"{ctx.spec.instance('app').key_name}.pem"
        if remote.ensure_file(web, APP_KEY_ON_WEB, pem.read_text(), 0o600, "ubuntu:ubuntu"):
            ctx.say(f"copied the app key to the web server ({APP_KEY_ON_WEB}, mode 0600)")
        current = remote.read_file(web, WEB_KNOWN_HOSTS) or ""
        app_key = remote.pinned_key(ctx, app_at.private_ip)
        if remote.ensure_file(
            web, WEB_KNOWN_HOSTS, pin(current, app_at.private_ip, app_key), 0o644, "ubuntu:ubuntu"
        ):
            ctx.say("pinned the app server's host key on the web server")
        key_type, blob = public_key(ctx, "app")
        current = remote.read_file(app, AUTHORIZED_KEYS) or ""
        if remote.ensure_file(
            app,
            AUTHORIZED_KEYS,
            restrict_from(current, key_type, blob, web_at.private_ip),
            0o600,
            "ubuntu:ubuntu",
        ):
            ctx.say(f'app server: the app key now works only from="{web_at.private_ip}"')

        for role, host in (("jenkins", jenkins), ("web", web), ("app", app)):
            if no_password_login(host):
                ctx.say(f"{role}: password login turned off")
        if "monitoring" in ctx.state().instances:
            monitoring = remote.open_role(ctx, "monitoring")
            try:
                if no_password_login(monitoring):
                    ctx.say("monitoring: password login turned off")
            finally:
                remote.close(monitoring)
    finally:
        for host in (app, web, jenkins):
            remote.close(host)

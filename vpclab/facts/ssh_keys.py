"""The SSH paths' users, key files and authorized_keys lines: what the keys step writes on
the hosts and its checks read back."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vpclab.errors import VpclabError
from vpclab.facts.app_deploy import DEPLOY_CONF, SCRIPTS_DIR
from vpclab.paths import keys_dir
from vpclab.remote import Reach

JENKINS_USER = "jenkins"
DEPLOY_USER = "ubuntu"
JENKINS_KEY = ".ssh/id_ed25519"  # under Jenkins' home
APP_KEY_ON_WEB = "/home/ubuntu/.ssh/app_key"
WEB_KNOWN_HOSTS = "/home/ubuntu/.ssh/known_hosts"
AUTHORIZED_KEYS = "/home/ubuntu/.ssh/authorized_keys"
DEPLOY_GATE = f"{SCRIPTS_DIR}/deploy_gate.sh"
# Jenkins' key on web: no pty, no forwarding, no agent, no ~/.ssh/rc; only the deploy gate.
JENKINS_KEY_OPTIONS = f'restrict,command="{DEPLOY_GATE} {DEPLOY_CONF}"'
ROLES = ("jenkins", "web", "app", "monitoring")


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


def public_key(reach: Reach, role: str) -> tuple[str, str]:
    """(type, blob) of a role's key pair, from the state folder."""
    name = reach.spec.instance(role).key_name
    pub = keys_dir(reach.spec.name, reach.spec_path) / f"{name}.pub"
    if not pub.exists():
        raise VpclabError(f"the public key {pub.name} is missing", "run 'vpclab up' again")
    fields = pub.read_text().split()
    return fields[0], fields[1]

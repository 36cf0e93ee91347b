"""Pinned host keys and the lab's key files, shared by paramiko and the system ssh.

Host keys are never learned on first use. They come from a channel the control plane
trusts: on AWS the instance's console output (cloud-init prints them between
`-----BEGIN SSH HOST KEY KEYS-----` markers), locally the agent that generated them. They are
pinned in `keys_dir(lab)/known_hosts`, in OpenSSH's format, so the system `ssh` reads the
same file.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable
from pathlib import Path

from vpclab.errors import VpclabError
from vpclab.localcloud import names
from vpclab.paths import keys_dir, state_root

BEGIN_KEYS = "-----BEGIN SSH HOST KEY KEYS-----"
END_KEYS = "-----END SSH HOST KEY KEYS-----"
KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
_KEY_RE = re.compile(
    r"(?P<type>" + "|".join(re.escape(t) for t in KEY_TYPES) + r")\s+(?P<blob>[A-Za-z0-9+/]+={0,2})"
)


def known_hosts_path(lab: str, spec_path: Path | None = None) -> Path:
    return keys_dir(lab, spec_path) / "known_hosts"


def key_path(lab: str, key_name: str, spec_path: Path | None = None) -> Path:
    return keys_dir(lab, spec_path) / f"{key_name}.pem"


def internet_netns(lab: str, spec_path: Path | None = None) -> str:
    """Where the admin stands on the local target: the lab's internet namespace (named from
    the lab's id: its name plus its state folder)."""
    return names.netns(names.lab_id(lab, state_root(spec_path)), "internet")


def parse_console_host_keys(console: str) -> list[str]:
    """Host keys ("TYPE BASE64") from an instance's console output, last boot's block.

    Lines may carry a prefix (AWS writes some console lines as `ec2: ...`); comments after
    the key are dropped. Returns [] when the block is not (yet) there.
    """
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for raw in console.replace("\r", "").splitlines():
        if BEGIN_KEYS in raw:
            current = []
        elif END_KEYS in raw:
            if current is not None:
                blocks.append(current)
            current = None
        elif current is not None:
            match = _KEY_RE.search(raw)
            if match:
                current.append(f"{match['type']} {match['blob']}")
    return blocks[-1] if blocks else []


def _host_pattern(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def _check_key_line(line: str) -> str:
    fields = line.split()
    if len(fields) < 2 or fields[0] not in KEY_TYPES:
        raise VpclabError(
            f"not an SSH public key: {line[:40]!r}",
            "expected 'TYPE BASE64', e.g. 'ssh-ed25519 AAAA...'",
        )
    try:
        base64.b64decode(fields[1], validate=True)
    except binascii.Error:
        raise VpclabError(f"SSH public key with bad base64: {line[:40]!r}") from None
    return f"{fields[0]} {fields[1]}"


def pin_host_keys(
    known_hosts: Path, host: str, key_lines: Iterable[str], port: int = 22, comment: str = ""
) -> None:
    """Pin `host`'s keys, replacing whatever was pinned for it before; `comment` (e.g. the
    instance id) is kept after each key, as OpenSSH allows.

    Replacing is right only because the keys come from a trusted channel (console output or
    the local agent): an instance rebuilt at the same address has new keys.
    """
    keys = [_check_key_line(k) for k in key_lines]
    if not keys:
        raise VpclabError(
            f"no host key to pin for {host}",
            "wait until the instance has booted and printed its keys",
        )
    pattern = _host_pattern(host, port)
    lines = []
    if known_hosts.exists():
        for line in known_hosts.read_text().splitlines():
            fields = line.split()
            if fields and not line.startswith("#") and pattern in fields[0].split(","):
                continue
            lines.append(line)
    lines += [f"{pattern} {k}" + (f" {comment}" if comment else "") for k in keys]
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    tmp = known_hosts.with_name(f".{known_hosts.name}.{os.getpid()}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, known_hosts)  # atomic: a concurrent reader sees the old or new file


def pinned_comments(known_hosts: Path, host: str, port: int = 22) -> set[str]:
    """The comments of the keys pinned for `host` (who they were pinned for)."""
    pattern = _host_pattern(host, port)
    if not known_hosts.exists():
        return set()
    return {
        " ".join(line.split()[3:])
        for line in known_hosts.read_text().splitlines()
        if line.split() and pattern in line.split()[0].split(",")
    }


def pinned_host_keys(known_hosts: Path, host: str, port: int = 22) -> list[str]:
    pattern = _host_pattern(host, port)
    if not known_hosts.exists():
        return []
    return [
        " ".join(line.split()[1:3])
        for line in known_hosts.read_text().splitlines()
        if line.split() and pattern in line.split()[0].split(",")
    ]

"""The system `ssh`, for `vpclab ssh ROLE`: argv pinned like paramiko, a short connect
timeout, and a run that turns a connection failure into one line."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from vpclab.errors import VpclabError
from vpclab.hosts.known_hosts import internet_netns, key_path, known_hosts_path

DEFAULT_USER = "ubuntu"
CONNECT_TIMEOUT = 5  # seconds: a security group drops silently, so fail fast


def ssh_command(
    lab: str,
    role: str,
    *,
    address: str,
    key_name: str,
    jump: str | None = None,
    jump_key_name: str | None = None,
    local: bool = True,
    user: str = DEFAULT_USER,
    command: list[str] | None = None,
    batch: bool = False,
    spec_path: Path | None = None,
    connect_timeout: int = CONNECT_TIMEOUT,
) -> list[str]:
    """argv for the system `ssh` to a lab host, pinned like paramiko, for `vpclab ssh ROLE`.

    `jump`: the public address to go through (the web server, for the private app), logged
    into with `jump_key_name` (default: the same key). It is a ProxyCommand rather than -J,
    because -J does not pass -i and -o on to the jump hop.
    Locally the whole thing runs in the lab's internet namespace (`ip netns exec`, root).
    """
    key = key_path(lab, key_name, spec_path)
    if not key.exists():
        raise VpclabError(
            f"private key {key} is missing, so {role} cannot be reached", "run the keys step first"
        )
    known = known_hosts_path(lab, spec_path)
    opts = [
        "-i",
        str(key),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={known}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "UpdateHostKeys=no",
        # The operator's ~/.ssh/config has no say (it could forward the agent, or X, to a
        # host that a build can be root on).
        "-F",
        "/dev/null",
        "-o",
        "ForwardAgent=no",
        "-o",
        "ForwardX11=no",
        # A security group drops silently: fail in seconds, not after the TCP retries.
        "-o",
        f"ConnectTimeout={connect_timeout}",
    ]
    if batch:
        opts += ["-o", "BatchMode=yes"]
    argv = ["ssh", *opts]
    if jump:
        hop_key = key_path(lab, jump_key_name, spec_path) if jump_key_name else key
        hop = shlex.join(["ssh", "-i", str(hop_key), *opts[2:], "-W", "%h:%p", f"{user}@{jump}"])
        argv += ["-o", f"ProxyCommand={hop}"]
    argv.append(f"{user}@{address}")
    if command:
        argv += ["--", *command]
    if local:
        argv = ["ip", "netns", "exec", internet_netns(lab, spec_path), *argv]
    return argv


# ssh's own words for "the connection did not happen" (not the remote command's stderr).
_CONNECT_FAILURE = re.compile(
    r"^(ssh: connect to host|kex_exchange_identification|ssh_exchange_identification|"
    r"Connection closed by|Connection timed out|Connection refused|Connection to .* timed out|"
    r"channel \d+: open failed|stdio forwarding failed|Killed by signal|"
    r"ssh: Could not resolve|Host key verification failed)"
)
# Of several, the line that says most about the cause.
_MOST_TELLING = ("Host key verification failed", "open failed", "connect to host", "timed out")
SSH_FAILED = 255  # ssh's exit status for its own errors


@dataclass(frozen=True)
class SshOutcome:
    code: int
    cause: str | None  # ssh's last own error line, when it could not connect


def run_ssh(argv: list[str]) -> SshOutcome:
    """Run the system ssh as a child (a terminal session works as usual). Its stderr is
    relayed, except ssh's own connection errors: on failure the caller says one line."""

    proc = subprocess.Popen(argv, stderr=subprocess.PIPE)
    held: list[str] = []

    def relay() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip("\r\n")
            if _CONNECT_FAILURE.match(line):
                held.append(line)
            else:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()

    thread = threading.Thread(target=relay, daemon=True)
    thread.start()
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        code = proc.wait()
    thread.join(2)
    cause = next((line for key in _MOST_TELLING for line in held if key in line), None)
    cause = cause or (held[-1] if held else None)
    return SshOutcome(code, cause if code == SSH_FAILED else None)

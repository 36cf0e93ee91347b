"""How the deployment steps (keys, nginx, scripts) and their checks reach the lab's hosts.

The one place that knows where a role's host answers and how to log in: SSH with pinned host
keys (vpclab.hosts.ssh), straight to public hosts and through the web server to the private
app. Where a host answers and where the operator stands are the target's Site's
(`vpclab.site`): locally the lab's internet namespace and the agent's addresses; on AWS this
machine and the control plane's.
"""

from __future__ import annotations

import http.client
import shlex
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from vpclab.aws.session import Cloud
from vpclab.errors import VpclabError
from vpclab.facts.pipeline_build import inside_build
from vpclab.hosts.ssh import Host, known_hosts_path, open_host
from vpclab.spec import LabSpec


class Reach(Protocol):
    """What a step's Context and a check's Facts both have (`cloud.site` is their Site)."""

    spec: LabSpec
    cloud: Cloud
    spec_path: Path


@dataclass(frozen=True)
class Where:
    role: str
    private_ip: str
    public_ip: str | None


@dataclass(frozen=True)
class Services:
    """What the lab's internet serves the app server (local target only)."""

    git_url: str
    pip_args: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: str


def unreachable(reach: Reach) -> str | None:
    """Why the hosts cannot be reached from here, or None."""
    return reach.cloud.site.unreachable(reach)


def stand_in(reach: Reach) -> str | None:
    """Target aws with its own endpoint (moto, a test double): the addresses it reports are
    on no wire, so nothing may connect to them from here. None for real AWS."""
    return reach.cloud.site.stand_in(reach.cloud)


def where(reach: Reach, role: str) -> Where:
    """The addresses a role's host answers on."""
    return reach.cloud.site.where(reach, role)


# Sessions opened so far in this process: a step that opened one worked on the hosts.
sessions_opened = 0


def open_role(reach: Reach, role: str) -> Host:
    """An SSH session (as ubuntu) to a role's host; the app through the web server."""
    global sessions_opened
    sessions_opened += 1
    spec, local = reach.spec, reach.cloud.site.dials_from_lab_internet
    here = where(reach, role)

    def host(address: str, key_role: str, name: str, via: Host | None = None) -> Host:
        return open_host(
            spec.name,
            address,
            key_name=spec.instance(key_role).key_name,
            via=via,
            local=local,
            name=name,
            spec_path=reach.spec_path,
        )

    if here.public_ip:
        return host(here.public_ip, role, role)
    web = where(reach, "web")
    if not web.public_ip:
        raise VpclabError("the web server has no public address", "run 'vpclab up'")
    return host(here.private_ip, role, role, via=host(web.public_ip, "web", "web"))


def close(host: Host) -> None:
    host.close()
    if host.via is not None:
        host.via.close()


def pinned_key(reach: Reach, address: str) -> str:
    """The host key pinned for an address in the lab's known_hosts (from a trusted channel)."""
    from vpclab.hosts.ssh import pinned_host_keys

    keys = pinned_host_keys(known_hosts_path(reach.spec.name, reach.spec_path), address)
    if not keys:
        raise VpclabError(f"no pinned host key for {address}", "run 'vpclab up' to pin it")
    return keys[0]


def services(reach: Reach) -> Services | None:
    """The lab internet's git remote and wheel index (local), or None (AWS: public ones)."""
    return reach.cloud.site.services(reach)


def connect(reach: Reach, address: str, port: int, timeout: float = 3.0) -> socket.socket:
    """A TCP connection from "the internet": the lab's internet namespace locally, this
    machine on AWS."""
    return reach.cloud.site.connect_from_internet(reach, address, port, timeout)


def can_connect(reach: Reach, address: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with connect(reach, address, port, timeout):
            return True
    except OSError:
        return False


def http_get(
    reach: Reach,
    address: str,
    port: int,
    path: str,
    timeout: float = 5.0,
    tls: ssl.SSLContext | None = None,
) -> Reply:
    """GET address:port/path from the internet, over TLS with `tls` (the server's name
    checked against `address`). Raises OSError when nothing answers, ssl.SSLError (an
    OSError) when the certificate is not trusted."""
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    sock = connect(reach, address, port, timeout)
    if tls is not None:
        try:
            sock = tls.wrap_socket(sock, server_hostname=address)
        except BaseException:
            sock.close()
            raise
    conn.sock = sock
    try:
        conn.request("GET", path, headers={"Host": address, "Connection": "close"})
        resp = conn.getresponse()
        body = resp.read(256 * 1024).decode(errors="replace")
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
    finally:
        conn.close()


def site_tls(reach: Reach) -> ssl.SSLContext:
    """How to talk TLS to the lab's web server: trusting the lab CA only. Inside a pipeline
    build the lab CA is the operator's (not in the build's state folder): there the site's
    pages are read without verifying, and the certificate check SKIPs."""
    from vpclab import labca

    if inside_build() and not labca.ca_cert_path(reach.spec.name, reach.spec_path).exists():
        return ssl._create_unverified_context()  # noqa: S323 - see the docstring
    return labca.client_context(reach.spec.name, reach.spec_path)


def site_get(reach: Reach, path: str, timeout: float = 12.0) -> Reply:
    """GET a page of the microblog from the internet, as a user does: HTTPS on the web
    server's public address, trusting the lab CA. The timeout outlasts Nginx's wait for a
    down app (its proxy_connect_timeout), so a down app is its 502 page, not a timeout."""
    web = where(reach, "web")
    if not web.public_ip:
        raise VpclabError("the web server has no public address", "run 'vpclab up'")
    return http_get(reach, web.public_ip, reach.spec.ports.https, path, timeout, site_tls(reach))


# --- files on a host -------------------------------------------------------------------------


def read_file(host: Host, path: str) -> str | None:
    """A file's text (read as root), or None when it is missing."""
    result = host.run(f"cat {shlex.quote(path)}", sudo=True, check=False)
    return result.stdout if result.ok else None


def ensure_file(host: Host, path: str, text: str, mode: int, owner: str = "root:root") -> bool:
    """Write `text` to `path` unless it is there already; fix the mode either way.
    Returns whether the content changed."""
    if read_file(host, path) == text:
        host.run(f"chmod {mode:o} {shlex.quote(path)}", sudo=True)
        return False
    host.put_text(text, path, mode, sudo=True, owner=owner)
    return True


def put_back(host: Host, previous: Mapping[str, str | None]) -> None:
    """Each file as it was before a change its service's own test refused (`nginx -t`,
    `sshd -t`, promtool): its old text (root's, 0644), or no file where there was none. So a
    refused config never stays on a host, where the next restart would fail on it."""
    for path, text in previous.items():
        if text is None:
            host.run(f"rm -f {shlex.quote(path)}", sudo=True)
        else:
            host.put_text(text, path, 0o644, sudo=True, owner="root:root")


def as_user(user: str, script: str, *args: str) -> str:
    """A command line running `script` (sh) as `user`, with positional `args`."""
    tail = " ".join(shlex.quote(a) for a in args)
    return f"sudo -n -u {shlex.quote(user)} -H -- /bin/sh -c {shlex.quote(script)} sh {tail}"


def read_as(host: Host, user: str, path: str) -> str | None:
    """A file in `user`'s home read as that user, or None when missing, unreadable or a
    symbolic link: root never follows a link the user could have planted."""
    script = '[ ! -L "$1" ] && [ -f "$1" ] && cat -- "$1"'
    result = host.run(as_user(user, script, path), check=False)
    return result.stdout if result.ok else None


# As the user: umask 077, a fresh temporary file beside the target, then rename over it (a
# rename replaces a planted link instead of writing through it).
_WRITE_AS_USER = (
    'set -e; umask 077; d=$(dirname -- "$1"); mkdir -p -- "$d"; '
    't=$(mktemp "$d/.vpclab.XXXXXX"); cat >"$t"; chmod "$2" "$t"; mv -f -T -- "$t" "$1"'
)


def ensure_user_file(host: Host, user: str, path: str, text: str, mode: int) -> bool:
    """Write `text` to `path` in `user`'s home as that user (never as root), unless it is
    there already as a regular file; fix the mode either way. Returns whether it changed."""
    if read_as(host, user, path) == text:
        host.run(as_user(user, 'chmod "$2" "$1"', path, f"{mode:o}"))
        return False
    host.run(as_user(user, _WRITE_AS_USER, path, f"{mode:o}"), input=text)
    return True


def home_of(host: Host, user: str) -> str:
    home = host.run(f"getent passwd {shlex.quote(user)} | cut -d: -f6", check=False).stdout.strip()
    if not home:
        raise VpclabError(f"no user {user!r} on {host.name}", "run the keys step")
    return home


# --- sessions shared by the checks of one process ---------------------------------------------

_SHARED: dict[tuple, Host] = {}


def shared(reach: Reach, role: str) -> Host:
    """A connected session to a role's host, reused by checks (reconnects when it died or the
    host moved). Steps open their own with open_role and close them."""
    here = where(reach, role)
    key = (str(reach.spec_path), reach.spec.name, role, here.private_ip, here.public_ip)
    host = _SHARED.get(key)
    if host is None:
        host = _SHARED[key] = open_role(reach, role)
    return host.connect()

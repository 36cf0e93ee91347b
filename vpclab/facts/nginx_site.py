"""The web server's Nginx site: where its config lives and is enabled (in place of Debian's
default site), its status page, and the app addresses its `proxy_pass` lines send to."""

from __future__ import annotations

import re
from dataclasses import dataclass

SITE = "/etc/nginx/sites-available/microblog"
ENABLED = "/etc/nginx/sites-enabled/microblog"
DEFAULT_SITE = "/etc/nginx/sites-enabled/default"
STATUS_PATH = "/nginx_status"
CONNECT_TIMEOUT = 5  # s: Nginx waits this long for the app before its 502 page
_UPSTREAM_BLOCK = re.compile(r"^\s*upstream\s+([\w.-]+)\s*\{(.*?)\}", re.M | re.S)
_SERVER = re.compile(r"^\s*server\s+([0-9.]+):(\d+)\b[^;]*;", re.M)
_PROXY_PASS = re.compile(r"^\s*proxy_pass\s+https?://([^/;\s]+)[^;]*;", re.M)


@dataclass(frozen=True)
class Upstream:
    address: str
    port: int


def proxied(config: str) -> list[Upstream]:
    """The app addresses a site's `proxy_pass` lines send to: an upstream's servers, or the
    address written in the line itself (`http://10.0.2.7:5000`, port 80 when none)."""
    groups = {name: _SERVER.findall(body) for name, body in _UPSTREAM_BLOCK.findall(config)}
    found: list[Upstream] = []
    for target in _PROXY_PASS.findall(config):
        if target in groups:
            found += [Upstream(a, int(p)) for a, p in groups[target]]
        else:
            host, _, port = target.partition(":")
            found.append(Upstream(host, int(port) if port.isdigit() else 80))
    return list(dict.fromkeys(found))

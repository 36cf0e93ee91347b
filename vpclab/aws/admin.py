"""Who may reach the lab's admin ports: `admin_cidr`, checked for AWS, and `"auto"`
resolved to the operator's own public address at `up` time.

The address lookup is one HTTPS request to AWS's own "what is my IP" service, made on
target aws only. The resolver is a parameter, so tests pass a fake and never make it.
"""

from __future__ import annotations

import ipaddress
import urllib.request
from collections.abc import Callable

from vpclab.errors import VpclabError
from vpclab.spec import ADMIN_AUTO, LabSpec

CHECKIP_URL = "https://checkip.amazonaws.com/"
# On the local target the operator sits on the local cloud's "internet" side.
LOCAL_ADMIN_CIDR = "198.51.100.0/24"
WORLD = "0.0.0.0/0"
# Wider than this is "the world" for admin ports: a /16 is a whole campus or provider block.
MIN_ADMIN_PREFIX = 16
DOCUMENTATION = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
)

Resolver = Callable[[], str]


def public_ip(url: str = CHECKIP_URL, timeout: float = 10.0) -> str:
    """This machine's public IPv4 address, as AWS sees it."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            text = answer.read(64).decode().strip()
        return str(ipaddress.IPv4Address(text))
    except (OSError, ValueError) as exc:
        raise VpclabError(
            f'admin_cidr = "auto": could not find your public address from {url} ({exc})',
            'set admin_cidr = "YOUR.IP/32" in lab.toml',
        ) from None


def resolve(spec: LabSpec, auto: Callable[[], str]) -> LabSpec:
    """The spec with `admin_cidr = "auto"` replaced by `auto()`, the target's Site's answer
    (your address/32 on aws, the local cloud's internet side on local). Other values are
    returned as they are, and `auto` is not called."""
    if spec.admin_cidr != ADMIN_AUTO:
        return spec
    return spec.model_copy(update={"admin_cidr": auto()})


def check_for_aws(admin_cidr: str, allow_world: bool) -> None:
    """On AWS a documentation range locks the student out, and a wide range (0.0.0.0/0, or
    anything wider than /MIN_ADMIN_PREFIX, e.g. 0.0.0.0/1) opens SSH, Jenkins and Grafana to
    much of the internet: refuse both (the second unless asked for)."""
    net = ipaddress.ip_network(admin_cidr)
    if any(net.subnet_of(doc) for doc in DOCUMENTATION):
        raise VpclabError(
            f"admin_cidr {admin_cidr} is a documentation range: on AWS nobody could reach SSH",
            'set admin_cidr = "auto" (your public address) or "YOUR.IP/32" in lab.toml',
        )
    if net.prefixlen < MIN_ADMIN_PREFIX and not allow_world:
        whom = "the whole internet" if net.prefixlen == 0 else f"{net.num_addresses:,} addresses"
        raise VpclabError(
            f"admin_cidr {admin_cidr} opens SSH, Jenkins and Grafana to {whom}",
            f'set admin_cidr = "auto" (or a range of /{MIN_ADMIN_PREFIX} or narrower), or add '
            "--allow-world-admin if you really mean it",
        )

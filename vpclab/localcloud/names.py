"""Names of a lab's local objects. Every one carries the lab's prefix, so two labs never clash
and `vpclab local down --force` can find everything a lab left behind."""

from __future__ import annotations

import hashlib

NETNS_PREFIX = "vpclab-"
IFNAME_MAX = 15  # Linux IFNAMSIZ - 1


def netns(lab: str, name: str) -> str:
    """A namespace a student can find with `ip netns list`, e.g. `vpclab-microblog-web`."""
    return f"{NETNS_PREFIX}{lab}-{name}"


def short(lab: str) -> str:
    """A 6-character lab tag for interface names, which are limited to 15 characters."""
    return "v" + hashlib.sha1(lab.encode()).hexdigest()[:5]


def ifname(lab: str, name: str) -> str:
    result = f"{short(lab)}-{name}"
    if len(result) > IFNAME_MAX:
        raise ValueError(f"interface name {result!r} is longer than {IFNAME_MAX} characters")
    return result


def nft_table(lab: str) -> str:
    return f"vpclab_{short(lab)}"

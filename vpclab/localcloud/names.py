"""Names of a lab's local objects, made from the lab's id.

A lab's local identity is its name plus its state folder: two clones of the project (or two
state folders of one clone) may run a lab of the same name side by side. The id is a short,
stable hash of both, so every namespace, link and nftables table of a lab carries it and
`vpclab local down --force` finds exactly what one lab left behind.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

NETNS_PREFIX = "vpclab-"
IFNAME_MAX = 15  # Linux IFNAMSIZ - 1
# "v" and five hex digits: interface names are "<id>-<8 chars>", 15 at most.
LAB_ID = re.compile(r"v[0-9a-f]{5}")
_NETNS = re.compile(rf"^{re.escape(NETNS_PREFIX)}({LAB_ID.pattern})-([a-z0-9_-]+)$")
_IFNAME = re.compile(rf"^({LAB_ID.pattern})-")
_TABLE = re.compile(rf"^vpclab_({LAB_ID.pattern})$")


def lab_id(lab: str, state_root: Path | str) -> str:
    """The lab's local id, from its name and its state folder (e.g. `v3fa2c`)."""
    root = str(Path(state_root).resolve())
    return "v" + hashlib.sha1(f"{lab}\0{root}".encode()).hexdigest()[:5]


def netns(lid: str, name: str) -> str:
    """A namespace a student finds with `ip netns list`, e.g. `vpclab-v3fa2c-web`."""
    return f"{NETNS_PREFIX}{lid}-{name}"


def netns_suffix(lid: str, namespace: str) -> str | None:
    """`web` for `vpclab-<lid>-web`; None for a namespace of another lab."""
    found = _NETNS.match(namespace)
    return found.group(2) if found and found.group(1) == lid else None


def ifname(lid: str, name: str) -> str:
    result = f"{lid}-{name}"
    if len(result) > IFNAME_MAX:
        raise ValueError(f"interface name {result!r} is longer than {IFNAME_MAX} characters")
    return result


def nft_table(lid: str) -> str:
    return f"vpclab_{lid}"


def id_of_netns(namespace: str) -> str | None:
    found = _NETNS.match(namespace)
    return found.group(1) if found else None


def id_of_link(link: str) -> str | None:
    found = _IFNAME.match(link)
    return found.group(1) if found else None


def id_of_table(table: str) -> str | None:
    found = _TABLE.match(table)
    return found.group(1) if found else None

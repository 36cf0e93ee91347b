"""nftables: security groups rendered as a host's firewall, and atomic table replacement.

Like a security group, the host firewall is stateful (replies and related ICMP always pass)
and drops silently whatever no rule allows, in both directions.
"""

from __future__ import annotations

from vpclab.localcloud import netns
from vpclab.localcloud.dataplane import Rule
from vpclab.localcloud.imds import METADATA_IP, METADATA_PORTS


def _match(rule: Rule) -> str:
    peers = ", ".join(rule.peers)
    side = "saddr" if rule.direction == "in" else "daddr"
    parts = [f"ip {side} {{ {peers} }}"]
    if rule.protocol in ("tcp", "udp"):
        lo = 0 if rule.from_port is None or rule.from_port < 0 else rule.from_port
        hi = 65535 if rule.to_port is None or rule.to_port < 0 else rule.to_port
        ports = str(lo) if lo == hi else f"{lo}-{hi}"
        parts.append(f"{rule.protocol} dport {ports}")
    elif rule.protocol == "icmp":
        parts.append("meta l4proto icmp")
        if rule.from_port is not None and rule.from_port >= 0:
            parts.append(f"icmp type {rule.from_port}")
            if rule.to_port is not None and rule.to_port >= 0:
                parts.append(f"icmp code {rule.to_port}")
    elif rule.protocol != "all":
        parts.append(f"meta l4proto {rule.protocol}")
    return " ".join(parts)


def render_host(table: str, rules: tuple[Rule, ...]) -> str:
    """The body of a host's firewall table (family inet) for its security groups."""
    lines = [f"table inet {table} {{"]
    for chain, hook, direction, lo in (
        ("ingress", "input", "in", "iif"),
        ("egress", "output", "out", "oif"),
    ):
        lines += [
            f"  chain {chain} {{",
            f"    type filter hook {hook} priority filter; policy drop;",
            "    ct state established,related accept",
            "    ct state invalid drop",
            f'    {lo} "lo" accept',
        ]
        if direction == "out":  # as on AWS, no security group stands before the metadata
            lines.append(f"    ip daddr {METADATA_IP} tcp dport {{ {METADATA_PORTS} }} accept")
        lines += [f"    {_match(r)} accept" for r in rules if r.direction == direction]
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def replace_script(family: str, table: str, body: str) -> str:
    """One nft transaction that swaps a table for a new one: no moment without rules."""
    return f"table {family} {table}\ndelete table {family} {table}\n{body}"


def apply(ns: str, family: str, table: str, body: str) -> None:
    netns.exec_in(ns, ["nft", "-f", "-"], input=replace_script(family, table, body))

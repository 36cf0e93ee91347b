"""The router namespace of a lab: VPC router, Internet Gateway, NAT gateway and peering.

`render` turns a plan into one nftables table: route tables become forward rules keyed on
the source and destination subnet (bridge), the IGW is 1:1 DNAT/SNAT between a public
public address (198.51.100.x, or an Elastic IP
from 203.0.113.0/24) and the private IP, and a NAT gateway is SNAT of a whole subnet to the
NAT's public address.
"""

from __future__ import annotations

from vpclab.localcloud.dataplane import LabPlan, internet_link
from vpclab.localcloud.imds import METADATA_IP, METADATA_PORTS


def render(table: str, plan: LabPlan, public: dict[str, str]) -> str:
    """`public` maps instance ids and NAT ids to their wire address (see `allocate`)."""
    inet = internet_link(plan.lab_id)
    hosts = {h.instance_id: h for h in plan.hosts}
    by_subnet = {s.id: s for s in plan.subnets}
    pre, post = [], []
    forward = ["ct state established,related accept"]
    for a, b in plan.links:
        forward.append(f'iifname "{a}" oifname "{b}" accept')
    for e in plan.egress:
        if e.via == "nat" and e.nat_id in public:
            forward.append(f'iifname "{e.bridge}" oifname "{inet}" accept')
            post.append(f'iifname "{e.bridge}" oifname "{inet}" snat ip to {public[e.nat_id]}')
        elif e.via == "igw":
            ips = sorted(
                h.private_ip
                for h in plan.hosts
                if h.instance_id in public and by_subnet[h.subnet_id].bridge == e.bridge
            )
            if ips:
                forward.append(
                    f'iifname "{e.bridge}" oifname "{inet}" ip saddr {{ {", ".join(ips)} }} accept'
                )
    for iid in plan.inbound:
        host = hosts[iid]
        if iid not in public:
            continue
        bridge = by_subnet[host.subnet_id].bridge
        pre.append(f'iifname "{inet}" ip daddr {public[iid]} dnat ip to {host.private_ip}')
        post.append(f'oifname "{inet}" ip saddr {host.private_ip} snat ip to {public[iid]}')
        forward.append(
            f'iifname "{inet}" oifname "{bridge}" ip daddr {host.private_ip} ct status dnat accept'
        )

    def chain(name: str, head: str, rules: list[str]) -> list[str]:
        return [f"  chain {name} {{", f"    {head}", *(f"    {r}" for r in rules), "  }"]

    lines = [f"table ip {table} {{"]
    lines += chain("prerouting", "type nat hook prerouting priority dstnat; policy accept;", pre)
    lines += chain("postrouting", "type nat hook postrouting priority srcnat; policy accept;", post)
    lines += chain("forward", "type filter hook forward priority filter; policy drop;", forward)
    # The router itself offers only ping and, to the lab's hosts (never the internet side),
    # the metadata service and the control plane's door (`imds`), as AWS's hypervisor does.
    lines += chain(
        "input",
        "type filter hook input priority filter; policy drop;",
        [
            "ct state established,related accept",
            'iif "lo" accept',
            "meta l4proto icmp accept",
            f'iifname != "{inet}" ip daddr {METADATA_IP} tcp dport {{ {METADATA_PORTS} }} accept',
        ],
    )
    lines.append("}")
    return "\n".join(lines) + "\n"

"""The inbound rules of the lab's security groups: the Ingress model a step opens, the
monitoring step's rules, and what a group allows beyond what the lab wants (steps revoke
it, checks report it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ingress:
    """One inbound rule: a TCP port from a CIDR or from another security group."""

    port: int
    cidr: str | None = None
    group_id: str | None = None
    description: str = ""

    def permission(self) -> dict:
        perm: dict = {"IpProtocol": "tcp", "FromPort": self.port, "ToPort": self.port}
        if self.cidr:
            perm["IpRanges"] = [{"CidrIp": self.cidr, "Description": self.description}]
        else:
            perm["UserIdGroupPairs"] = [{"GroupId": self.group_id, "Description": self.description}]
        return perm


def monitoring_scrapes(ports, monitoring_group: str | None) -> dict[str, list[Ingress]]:
    """What the monitoring step opens on web and app: its scrapes, from the monitoring SG."""
    if not monitoring_group:
        return {"web": [], "app": []}
    mon = monitoring_group
    return {
        "app": [
            Ingress(ports.app, group_id=mon, description="monitoring (app metrics)"),
            Ingress(ports.node_exporter, group_id=mon, description="monitoring (node_exporter)"),
        ],
        "web": [
            Ingress(ports.node_exporter, group_id=mon, description="monitoring (node_exporter)"),
            Ingress(ports.nginx_exporter, group_id=mon, description="monitoring (Nginx status)"),
        ],
    }


def alertmanager_admin(ports, admin_cidr: str) -> Ingress:
    """The monitoring step's rule on the monitoring SG: Alertmanager's UI, from the admin range."""
    return Ingress(ports.alertmanager, cidr=admin_cidr, description="admin (Alertmanager)")


def unexpected(group: dict, keep: list[Ingress]) -> list[dict]:
    """The group's inbound permissions that are none of `keep` (a TCP port from a CIDR or a
    group), one source each, as revoke_security_group_ingress takes them."""
    wanted = {(r.port, r.cidr or r.group_id) for r in keep}
    extra = []
    for perm in group.get("IpPermissions", []):
        head = {k: perm[k] for k in ("IpProtocol", "FromPort", "ToPort") if k in perm}
        single = perm.get("IpProtocol") == "tcp" and perm.get("FromPort") == perm.get("ToPort")
        sources = [
            ("IpRanges", {"CidrIp": r["CidrIp"]}, r["CidrIp"]) for r in perm.get("IpRanges", [])
        ]
        sources += [
            ("Ipv6Ranges", {"CidrIpv6": r["CidrIpv6"]}, r["CidrIpv6"])
            for r in perm.get("Ipv6Ranges", [])
        ]
        sources += [
            ("UserIdGroupPairs", {"GroupId": p["GroupId"]}, p["GroupId"])
            for p in perm.get("UserIdGroupPairs", [])
        ]
        sources += [
            ("PrefixListIds", {"PrefixListId": p["PrefixListId"]}, p["PrefixListId"])
            for p in perm.get("PrefixListIds", [])
        ]
        for kind, entry, source in sources:
            if not (single and (perm.get("FromPort"), source) in wanted):
                extra.append({**head, kind: [entry]})
    return extra


def describe_permission(perm: dict) -> str:
    ports = perm.get("FromPort", "all")
    if perm.get("ToPort") not in (None, perm.get("FromPort")):
        ports = f"{ports}-{perm['ToPort']}"
    protocol = {"-1": "all"}.get(perm["IpProtocol"], perm["IpProtocol"])
    source = next(
        (
            e[k]
            for key in ("IpRanges", "Ipv6Ranges", "UserIdGroupPairs", "PrefixListIds")
            for e in perm.get(key, [])
            for k in e
        ),
        "?",
    )
    return f"{protocol} {ports} from {source}"

"""Step `instances`: security groups, key pairs, and the web (public subnet), app (private
subnet, no public IP) and monitoring servers."""

from __future__ import annotations

from vpclab.errors import VpclabError
from vpclab.facts.security_groups import Ingress, alertmanager_admin, monitoring_scrapes
from vpclab.steps.compute import (
    ensure_instance,
    ensure_key_pair,
    ensure_security_group,
    revoke_extra,
)
from vpclab.steps.context import Context

ANYWHERE = "0.0.0.0/0"


def web_ingress(ctx: Context, jenkins_group: str) -> list[Ingress]:
    """The web SG's own rules: SSH from the admin and from Jenkins, HTTPS from anyone, and
    HTTP from anyone (Nginx answers it only with a redirect to HTTPS)."""
    ports = ctx.spec.ports
    return [
        Ingress(ports.ssh, cidr=ctx.spec.admin_cidr, description="admin"),
        Ingress(ports.ssh, group_id=jenkins_group, description="Jenkins"),
        Ingress(ports.http, cidr=ANYWHERE, description="anyone (HTTP)"),
        Ingress(ports.https, cidr=ANYWHERE, description="anyone (HTTPS)"),
    ]


def apply(ctx: Context) -> None:
    spec = ctx.spec
    ports = spec.ports
    state = ctx.state()
    if state.vpc is None or set(state.subnets) != {"public", "private"}:
        raise VpclabError("the VPC and its subnets are missing", "run 'vpclab up --through vpc'")
    jenkins_sg = state.security_groups.get("jenkins")
    if jenkins_sg is None:
        raise VpclabError(
            "the Jenkins security group is missing", "run 'vpclab up --through jenkins'"
        )
    vpc_id = state.vpc["VpcId"]
    groups = state.security_groups

    web_rules = web_ingress(ctx, jenkins_sg["GroupId"])
    web_sg = ensure_security_group(
        ctx, "web", vpc_id, groups.get("web"), web_rules, "Web server: Nginx reverse proxy"
    )
    app_rules = [
        Ingress(ports.ssh, group_id=web_sg, description="web server"),
        Ingress(ports.app, group_id=web_sg, description="web server (app port)"),
    ]
    app_sg = ensure_security_group(
        ctx,
        "app",
        vpc_id,
        groups.get("app"),
        app_rules,
        "Application server: reachable only from the web server",
    )
    # Exactly these, plus the monitoring step's scrapes: any other rule goes.
    scrapes = monitoring_scrapes(ports, groups.get("monitoring", {}).get("GroupId"))
    revoke_extra(ctx, "web", groups.get("web"), web_rules + scrapes["web"])
    revoke_extra(ctx, "app", groups.get("app"), app_rules + scrapes["app"])
    # No Grafana rule: its login is reached through an SSH tunnel only (docs/aws.md), and an
    # older lab's rule is removed. Alertmanager's rule is the monitoring step's.
    monitoring_rules = [
        Ingress(ports.ssh, cidr=spec.admin_cidr, description="admin"),
        Ingress(ports.prometheus, cidr=spec.admin_cidr, description="admin (Prometheus)"),
    ]
    monitoring_sg = ensure_security_group(
        ctx,
        "monitoring",
        vpc_id,
        groups.get("monitoring"),
        monitoring_rules,
        "Monitoring server: Prometheus and Grafana",
    )
    revoke_extra(
        ctx,
        "monitoring",
        groups.get("monitoring"),
        monitoring_rules + [alertmanager_admin(ports, spec.admin_cidr)],
    )

    layout = {
        "web": ("public", web_sg, True),
        "app": ("private", app_sg, False),
        "monitoring": ("public", monitoring_sg, True),
    }
    for role, (subnet_role, group_id, public_ip) in layout.items():
        key_name = ensure_key_pair(ctx, role, state.key_pairs.get(role))
        ensure_instance(
            ctx,
            role,
            state.instances.get(role),
            state.subnets[subnet_role]["SubnetId"],
            group_id,
            key_name,
            public_ip,
            lab_vpc=vpc_id,
        )

"""Checks of the `instances` step: the security groups, key pairs and the three servers."""

from __future__ import annotations

from vpclab.aws.inventory import IngressRule, allows, ingress_rules
from vpclab.checks import Facts, Outcome, check, fail, ok
from vpclab.checks.servers import UP_INSTANCES, instance, key_pairs
from vpclab.facts.pipeline_build import inside_build
from vpclab.facts.security_groups import (
    Ingress,
    describe_permission,
    monitoring_scrapes,
    unexpected,
)

OPEN = ("0.0.0.0/0", "::/0")


@check(
    "instances.key_pairs", "Key pairs for web, app and monitoring exist, kept 0600", UP_INSTANCES
)
def instance_keys(facts: Facts) -> Outcome:
    return key_pairs(facts, ("web", "app", "monitoring"), UP_INSTANCES)


@check(
    "instances.web_security_group",
    "Web SG allows 22 from admin and Jenkins, 80 and 443 from anyone",
    UP_INSTANCES,
)
def web_sg(facts: Facts) -> Outcome:
    groups = facts.state.security_groups
    web, jenkins = groups.get("web"), groups.get("jenkins")
    if web is None or jenkins is None:
        return fail("the web or Jenkins security group is missing")
    ports = facts.spec.ports
    have = ingress_rules(web)
    # In a build the spec is the repository's: its admin CIDR is not the operator's.
    admin_cidr = admin_source(have, ports.ssh) if inside_build() else facts.spec.admin_cidr
    wanted = {
        (ports.ssh, admin_cidr): "22 from admin",
        (ports.ssh, jenkins["GroupId"]): "22 from Jenkins",
        (ports.http, "0.0.0.0/0"): "80 from anyone",
        (ports.https, "0.0.0.0/0"): "443 from anyone",
    }
    missing = [label for (port, source), label in wanted.items() if not allows(have, port, source)]
    if missing:
        return fail(f"{web['GroupId']} lacks {', '.join(missing)}")
    keep = [Ingress(port, cidr=source) for port, source in wanted]
    keep += monitoring_scrapes(ports, groups.get("monitoring", {}).get("GroupId"))["web"]
    extra = unexpected(web, keep)
    if extra:
        shown = ", ".join(describe_permission(p) for p in extra)
        return fail(f"{web['GroupId']} also allows {shown}", EXTRA_RULES)
    return ok(f"{web['GroupId']}: 22 admin+Jenkins, 80 and 443 anyone, nothing else")


def admin_source(rules: list[IngressRule], ssh: int) -> str:
    """In a build: the CIDR of the rule that lets an admin in on 22, whatever the operator
    chose, as long as it is not the whole world (then "22 from admin" is reported missing)."""
    cidrs = [r.source for r in rules if r.first == r.last == ssh and "/" in r.source]
    return next((c for c in cidrs if c not in OPEN), "an admin CIDR")


EXTRA_RULES = (
    "the web SG allows 22 from the admin CIDR and Jenkins, 80 and 443 from anyone (and the "
    "monitoring scrapes) and nothing else: revoke the extra rule, or run "
    "'vpclab up --through instances'"
)


@check(
    "instances.app_security_group",
    "App SG allows 22 and 5000 only from the web SG",
    "revoke the open rule and allow 22 and 5000 from the web SG only",
)
def app_sg(facts: Facts) -> Outcome:
    groups = facts.state.security_groups
    app, web = groups.get("app"), groups.get("web")
    if app is None or web is None:
        return fail("the app or web security group is missing", UP_INSTANCES)
    ports = facts.spec.ports
    have = ingress_rules(app)
    # The monitoring step adds the scrapes (app port, node_exporter) from the monitoring SG.
    mon = groups.get("monitoring", {}).get("GroupId")
    scraped = {ports.app, ports.node_exporter}
    foreign = [
        r
        for r in have
        if r.source != web["GroupId"]
        and not (r.source == mon and {r.first, r.last} <= scraped and r.first == r.last)
    ]
    if foreign:
        opened = [r for r in foreign if r.source in OPEN]
        shown = ", ".join(f"{_ports(r)} from {r.source}" for r in (opened or foreign))
        detail = (
            "open to the internet: " if opened else "allows sources other than the web SG: "
        ) + shown
        return fail(f"{app['GroupId']} {detail}")
    missing = [p for p in (ports.ssh, ports.app) if not allows(have, p, web["GroupId"])]
    if missing:
        return fail(f"{app['GroupId']} does not allow {missing} from the web SG", UP_INSTANCES)
    return ok(f"{app['GroupId']}: 22, {ports.app} from {web['GroupId']} only")


def _ports(rule) -> str:
    return str(rule.first) if rule.first == rule.last else f"{rule.first}-{rule.last}"


@check(
    "instances.web_server",
    "The web server runs in the public subnet with a public IP",
    UP_INSTANCES,
)
def web_server(facts: Facts) -> Outcome:
    subnet = facts.state.subnets.get("public", {}).get("SubnetId")
    return instance(facts, "web", subnet, public=True)


@check(
    "instances.app_server_private",
    "The app server runs in the private subnet, no public IP",
    UP_INSTANCES,
)
def app_server(facts: Facts) -> Outcome:
    subnet = facts.state.subnets.get("private", {}).get("SubnetId")
    return instance(facts, "app", subnet, public=False)


@check("instances.monitoring_server", "The monitoring server runs in the lab VPC", UP_INSTANCES)
def monitoring_server(facts: Facts) -> Outcome:
    subnet = facts.state.subnets.get("public", {}).get("SubnetId")
    return instance(facts, "monitoring", subnet, public=None)

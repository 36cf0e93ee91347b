"""Checks of the `jenkins` and `instances` steps."""

from __future__ import annotations

import stat

from vpclab.aws import keypairs
from vpclab.aws.inventory import allows, default_route_target, ingress_rules
from vpclab.checks import Facts, Outcome, check, fail, ok
from vpclab.paths import keys_dir
from vpclab.spec import DEFAULT_VPC_CIDR

UP_JENKINS = "run 'vpclab up --through jenkins'"
UP_INSTANCES = "run 'vpclab up --through instances'"
OPEN = ("0.0.0.0/0", "::/0")


def _key_pairs(facts: Facts, roles: tuple[str, ...], up: str) -> Outcome:
    seen = []
    for role in roles:
        name = facts.spec.instance(role).key_name
        if role not in facts.state.key_pairs:
            return fail(f"key pair {name} is missing in {facts.spec.region}", up)
        pem = keypairs.private_key_path(keys_dir(facts.spec.name, facts.spec_path), name)
        if not pem.exists():
            return fail(
                f"the private key {pem.name} is not in the state folder",
                "restore it, or run 'vpclab down' and 'vpclab up' to make new keys",
            )
        mode = stat.S_IMODE(pem.stat().st_mode)
        if mode & 0o077:
            return fail(f"{pem.name} has mode {mode:04o}", f"chmod 600 {pem.name}")
        seen.append(name)
    return ok(", ".join(seen) + " (private keys 0600)")


def _instance(facts: Facts, role: str, subnet_id: str | None, public: bool | None) -> Outcome:
    inst = facts.state.instances.get(role)
    if inst is None:
        return fail(f"no running {role} instance tagged for this lab")
    where = f"{inst['InstanceId']} {inst['State']['Name']} {inst['InstanceType']}"
    if inst["State"]["Name"] != "running":
        return fail(where, f"start it: aws ec2 start-instances --instance-ids {inst['InstanceId']}")
    if subnet_id and inst.get("SubnetId") != subnet_id:
        return fail(
            f"{where} is in {inst.get('SubnetId')}, expected {subnet_id}",
            "terminate it and " + UP_INSTANCES,
        )
    public_ip = inst.get("PublicIpAddress")
    if public is True and not public_ip:
        return fail(
            f"{where} has no public IP", "launch it in the public subnet with public IPs on launch"
        )
    if public is False and public_ip:
        return fail(
            f"{where} has a public IP {public_ip}",
            "terminate it and launch it in the private subnet without a public IP",
        )
    return ok(f"{where} {inst.get('PrivateIpAddress')} {public_ip or ''}".rstrip())


@check("jenkins.key_pair", "Jenkins' key pair exists, private key kept 0600", UP_JENKINS)
def jenkins_key(facts: Facts) -> Outcome:
    return _key_pairs(facts, ("jenkins",), UP_JENKINS)


@check("jenkins.instance", "Jenkins runs in the default VPC with a public IP", UP_JENKINS)
def jenkins_instance(facts: Facts) -> Outcome:
    default = facts.state.default_vpc
    inst = facts.state.instances.get("jenkins")
    if inst and default and inst.get("VpcId") != default["VpcId"]:
        return fail(
            f"{inst['InstanceId']} is in {inst.get('VpcId')}, not the default VPC",
            "keep deployment tooling apart: run Jenkins in the default VPC",
        )
    return _instance(facts, "jenkins", None, public=True)


@check(
    "jenkins.peering_active",
    "VPC peering between the default VPC and the lab is active",
    UP_JENKINS,
)
def peering_active(facts: Facts) -> Outcome:
    pcx = facts.state.peering
    if pcx is None:
        return fail("no VPC peering tagged for this lab")
    code = pcx["Status"]["Code"]
    if code != "active":
        return fail(
            f"{pcx['VpcPeeringConnectionId']} is {code}",
            "accept it: aws ec2 accept-vpc-peering-connection",
        )
    return ok(f"{pcx['VpcPeeringConnectionId']} active")


@check(
    "jenkins.peering_route_default_vpc",
    "The default VPC routes the lab's CIDR over the peering",
    "add <lab cidr> -> pcx-... to the default VPC's main route table, or run "
    "'vpclab up --through jenkins'",
)
def peering_route_default(facts: Facts) -> Outcome:
    target = default_route_target(facts.state.default_route_table, facts.spec.cidr)
    if not (target or "").startswith("pcx-"):
        return fail(f"{facts.spec.cidr} goes to {target or 'nowhere'} in the default VPC")
    return ok(f"{facts.spec.cidr} -> {target}")


@check(
    "jenkins.peering_route_lab",
    "The lab's route tables route the default VPC over the peering",
    "add 172.31.0.0/16 -> pcx-... to the lab's public and private route tables, "
    "or run 'vpclab up --through jenkins'",
)
def peering_route_lab(facts: Facts) -> Outcome:
    missing = [
        role
        for role in ("public", "private")
        if not (
            default_route_target(facts.state.route_tables.get(role), str(DEFAULT_VPC_CIDR)) or ""
        ).startswith("pcx-")
    ]
    if missing:
        return fail(f"no {DEFAULT_VPC_CIDR} -> pcx route in the {' and '.join(missing)} table")
    return ok(f"{DEFAULT_VPC_CIDR} -> pcx in public and private tables")


@check(
    "instances.key_pairs", "Key pairs for web, app and monitoring exist, kept 0600", UP_INSTANCES
)
def instance_keys(facts: Facts) -> Outcome:
    return _key_pairs(facts, ("web", "app", "monitoring"), UP_INSTANCES)


@check(
    "instances.web_security_group",
    "Web SG allows 22 from admin and Jenkins, 80 from anyone",
    UP_INSTANCES,
)
def web_sg(facts: Facts) -> Outcome:
    groups = facts.state.security_groups
    web, jenkins = groups.get("web"), groups.get("jenkins")
    if web is None or jenkins is None:
        return fail("the web or Jenkins security group is missing")
    ports = facts.spec.ports
    have = ingress_rules(web)
    wanted = {
        (ports.ssh, facts.spec.admin_cidr): "22 from admin",
        (ports.ssh, jenkins["GroupId"]): "22 from Jenkins",
        (ports.http, "0.0.0.0/0"): "80 from anyone",
    }
    missing = [label for (port, source), label in wanted.items() if not allows(have, port, source)]
    if missing:
        return fail(f"{web['GroupId']} lacks {', '.join(missing)}")
    return ok(f"{web['GroupId']}: 22 admin+Jenkins, 80 anyone")


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
    foreign = [r for r in have if r.source != web["GroupId"]]
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
    return _instance(facts, "web", subnet, public=True)


@check(
    "instances.app_server_private",
    "The app server runs in the private subnet, no public IP",
    UP_INSTANCES,
)
def app_server(facts: Facts) -> Outcome:
    subnet = facts.state.subnets.get("private", {}).get("SubnetId")
    return _instance(facts, "app", subnet, public=False)


@check("instances.monitoring_server", "The monitoring server runs in the lab VPC", UP_INSTANCES)
def monitoring_server(facts: Facts) -> Outcome:
    subnet = facts.state.subnets.get("public", {}).get("SubnetId")
    return _instance(facts, "monitoring", subnet, public=None)
